"""Names for every variable of a model's training state, taken from where it sits in the model.

Keras's own `Variable.path` is not unique (a model and its clone, such as a GAN's generator
and its EMA copy, share `dense/kernel`), and layer names carry a per-process counter
(`conv2d_4` in one process is `conv2d_12` in another). A checkpoint keyed by either, or by
position in `model.variables`, could load values into the wrong same-shaped variable. The
path built here follows the attributes from the model down instead:

    generator/03_conv2d_transpose/kernel       a layer of a functional network, by its place
    ema_generator/03_conv2d_transpose/kernel   the same layer of the EMA copy
    network/blocks/2/conv/kernel               a layer held in an attribute (a list here)
    latent_seed_generator/state                a random generator's state
    g_optimizer/momentum/generator/03_conv2d_transpose/kernel   a slot, by the variable it serves
    g_optimizer/iteration                      an optimizer's own counter
"""

import re

import keras


def variables_by_path(model):
    """{path: variable} for every variable reachable from `model` through its public
    attributes: layers, random generators and optimizers, in a stable order."""
    walk = _Walk()
    walk.visit(model, "")
    # Optimizers last: a slot is named after the variable it serves, so the variables come first.
    walk.naming_optimizers = True
    for optimizer, path in walk.optimizers:
        walk.visit_optimizer(optimizer, path)
    return walk.found


class _Walk:
    def __init__(self):
        self.found = {}
        self.paths = {}  # id(variable) -> path, for naming optimizer slots
        self.seen = set()
        self.optimizers = []  # (optimizer, path), visited once the model's variables are named
        self.naming_optimizers = False

    def add(self, path, variable):
        if id(variable) in self.paths:
            return
        if path in self.found:
            raise ValueError(
                f"Two variables of the model would share the checkpoint path {path!r}."
            )
        self.found[path] = variable
        self.paths[id(variable)] = path

    def visit(self, value, path):
        if isinstance(value, keras.Variable):
            self.add(path, value)
        elif isinstance(
            value, (keras.random.SeedGenerator, keras.layers.Layer, keras.optimizers.Optimizer)
        ):
            if id(value) in self.seen:
                return
            self.seen.add(id(value))
            if isinstance(value, keras.random.SeedGenerator):
                self.add(_join(path, "state"), value.state)
            elif isinstance(value, keras.layers.Layer):
                self.visit_layer(value, path)
            elif self.naming_optimizers:
                self.visit_optimizer(value, path)
            else:
                self.optimizers.append((value, path))
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                self.visit(item, _join(path, str(index)))
        elif isinstance(value, dict):
            for key in sorted(value, key=str):
                self.visit(value[key], _join(path, str(key)))

    def visit_attributes(self, obj, path):
        for name, value in sorted(vars(obj).items()):
            if not name.startswith("_"):
                self.visit(value, _join(path, name))

    def visit_layer(self, layer, path):
        if _is_layer_graph(layer):
            # A functional network's layers have no attribute names; their place in the
            # graph (and their kind, for readable errors) names them.
            for index, sublayer in enumerate(layer.layers):
                self.visit(sublayer, _join(path, f"{index:02d}_{_snake(type(sublayer).__name__)}"))
        self.visit_attributes(layer, path)
        # The layer's own weights; Keras keeps them in these two lists (their attributes,
        # such as Dense's `_kernel`, are private), and names them uniquely within the layer.
        for variable in layer._trainable_variables + layer._non_trainable_variables:
            self.add(_join(path, variable.name), variable)

    def visit_optimizer(self, optimizer, path):
        self.visit_attributes(optimizer, path)  # a LossScaleOptimizer's inner optimizer first
        references = {
            variable.path.replace("/", "_") + "_": variable
            for variable in getattr(optimizer, "_trainable_variables", [])
        }
        for variable in optimizer.variables:
            if id(variable) not in self.paths:
                self.add(_join(path, self.slot_name(variable, references)), variable)

    def slot_name(self, variable, references):
        """`<slot>/<path of the variable it serves>` for a slot Keras named
        `<reference path with _>_<slot>`; the variable's own name otherwise."""
        matches = [prefix for prefix in references if variable.name.startswith(prefix)]
        if not matches:
            return variable.name
        prefix = max(matches, key=len)
        reference = self.paths.get(id(references[prefix]), references[prefix].path)
        return f"{variable.name[len(prefix) :]}/{reference}"


def _is_layer_graph(layer):
    """Whether `layer` is a functional or sequential network (layers without attribute names)."""
    return any(cls.__name__ in ("Functional", "Sequential") for cls in type(layer).__mro__)


def _snake(name):
    """Conv2DTranspose -> conv2d_transpose, as Keras names its layers."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _join(path, name):
    return f"{path}/{name}" if path else name
