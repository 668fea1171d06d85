"""Writing files so that a reader never sees half of one, and names safe for folders."""

import contextlib
import json
import os
import re
import uuid


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename.

    The folder is created if needed. On an error the temporary file is removed and `path`
    is left as it was.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # Beside the target, so os.replace stays on one file system.
    temporary = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


def write_json(path, content, sort_keys=False):
    """Write `content` as indented JSON at `path`, atomically."""
    with atomic_path(path) as temporary, open(temporary, "w") as handle:
        json.dump(content, handle, indent=2, sort_keys=sort_keys)


def safe_name(text):
    """`text` with every character that is not a letter, digit, '.', '_' or '-' replaced by
    '_' (a dataset path or a split like "train[:10%]" as a folder or tag name)."""
    return re.sub(r"[^\w.-]", "_", text)
