"""The served models' versions: which are loaded, their states (TF Serving's START, LOADING,
AVAILABLE, UNLOADING, END), polling base folders for new versions, and swapping a new version
in only once it is loaded and warmed up, unloading the old one after its requests finish."""

import asyncio
import dataclasses
import gc
import logging
import time

from kgen.serving.servables import ServableVersion
from kgen.serving.status import invalid_argument
from kgen.serving.status import not_found

log = logging.getLogger("kgen.serving")


@dataclasses.dataclass
class VersionState:
    """What GET /v1/models reports for one version: a state and, after a failure, an error."""

    state: str
    error_code: str = "OK"
    error_message: str = ""


class ServedModel:
    """One model name: its spec, its loaded versions (version -> ServableVersion), and the
    state of every version it has seen."""

    def __init__(self, spec):
        self.spec = spec
        self.loaded = {}
        self.states = {}
        self.failed = set()  # versions whose load failed: not retried until they change


class ModelManager:
    """Loads, swaps and unloads the versions of the served models.

    Args:
        specs: ModelSpecs (kgen.serving.model_config).
        run_blocking: `await run_blocking(fn, *args)` runs TensorFlow work off the event loop.
        poll_seconds: how often base folders are scanned for versions (0: only at start).
        on_change: called (no arguments) after versions were loaded or unloaded.
    """

    def __init__(self, specs, run_blocking, poll_seconds=1.0, on_change=None):
        self.models = {spec.name: ServedModel(spec) for spec in specs}
        self._run_blocking = run_blocking
        self._poll_seconds = poll_seconds
        self._on_change = on_change or (lambda: None)
        self._unloading = set()
        self.initial_load_done = False

    # --- Lookup, as TF Serving resolves a request's model spec ---

    def servable(self, name, version=None, label=None):
        """The ServableVersion a request names: the latest, a version, or a labelled one."""
        model = self.models.get(name)
        if label is not None:
            if model is None or label not in model.spec.labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            version = model.spec.labels[label]
        if model is None or not model.loaded:
            raise not_found(_not_found_request(name, version))
        if version is None:
            return model.loaded[max(model.loaded)]
        found = model.loaded.get(version)
        if found is None:
            raise not_found(_not_found_request(name, version))
        return found

    def ready(self):
        """Whether every model has a version available (the readiness probe)."""
        return self.initial_load_done and all(model.loaded for model in self.models.values())

    # --- Loading and unloading ---

    async def run(self):
        """Load what the specs ask for, then keep polling (until cancelled)."""
        await self.sync()
        self.initial_load_done = True
        if self._poll_seconds <= 0:
            return
        while True:
            await asyncio.sleep(self._poll_seconds)
            await self.sync()

    async def sync(self):
        """Bring every model's loaded versions in line with its policy and the disk."""
        for model in self.models.values():
            try:
                await self._sync_model(model)
            except Exception:  # one model's trouble must not stop the others
                log.exception("Model %s: syncing versions failed", model.spec.name)

    async def _sync_model(self, model):
        on_disk = model.spec.versions_on_disk()
        wanted = model.spec.policy.choose(list(on_disk))
        changed = False
        for version in wanted:
            if version not in model.loaded and version not in model.failed:
                changed |= await self._load(model, version, on_disk[version])
        for version in list(model.loaded):
            if version not in wanted:
                self._unload(model, version)
                changed = True
        # A failed version that left the disk may come back fixed: try it again then.
        model.failed &= set(on_disk)
        if changed:
            settle_heap()
            self._on_change()

    async def _load(self, model, version, path):
        name = model.spec.name
        model.states[version] = VersionState("LOADING")
        started = time.monotonic()
        try:
            servable = await self._run_blocking(_load_and_warm_up, name, version, path)
        except Exception as error:  # a broken version is reported, never fatal
            log.error("Model %s version %d failed to load: %s", name, version, error)
            model.failed.add(version)
            model.states[version] = VersionState("END", "UNKNOWN", str(error))
            return False
        model.loaded[version] = servable
        model.states[version] = VersionState("AVAILABLE")
        log.info(
            "Model %s version %d available (%.1f s)", name, version, time.monotonic() - started
        )
        return True

    def _unload(self, model, version):
        """Stop routing to `version` now; drop it once its in-flight requests finish."""
        servable = model.loaded.pop(version)
        model.states[version] = VersionState("UNLOADING")
        task = asyncio.get_running_loop().create_task(self._finish_unload(model, servable))
        self._unloading.add(task)
        task.add_done_callback(self._unloading.discard)

    async def _finish_unload(self, model, servable):
        while servable.in_flight:
            await asyncio.sleep(0.01)
        model.states[servable.version] = VersionState("END")
        log.info("Model %s version %d unloaded", model.spec.name, servable.version)

    # --- Status, for GET /v1/models/NAME[/versions/N | /labels/L] ---

    def version_states(self, name, version=None):
        """[(version, VersionState)] a status request asks about, newest first."""
        model = self.models.get(name)
        if model is None:
            raise not_found(f"Could not find any versions of model {name}")
        if version is None:
            if not model.states:
                raise not_found(f"Could not find any versions of model {name}")
            return sorted(model.states.items(), reverse=True)
        if version not in model.states:
            raise not_found(f"Could not find version {version} of model {name}")
        return [(version, model.states[version])]


def settle_heap():
    """Collect garbage once, then move every live object out of the cyclic collector's way.

    A loaded TensorFlow model is hundreds of thousands of Python objects; without this, the
    collector walks them all whenever a response's lists trigger a full collection, which
    took 0.3 s of a 0.05 s JSON response in `kgen bench serve`."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _load_and_warm_up(name, version, path):
    servable = ServableVersion(name, version, path)
    servable.warm_up()
    return servable


def _not_found_request(name, version):
    if version is None:
        return f"Servable not found for request: Latest({name})"
    return f"Servable not found for request: Specific({name}, {version})"
