"""medallion's run: the OASIS TAXII 2.1 reference server on its memory backend, from a virtual environment of
pinned packages (scripts/bench-requirements.txt)."""

import json
import secrets
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from .client import run_client
from .processes import TAXII, RunFailed, Server, free_port

VENV = Path(".venv-bench")
REQUIREMENTS = Path("scripts/bench-requirements.txt")
USER = "bench"


def medallion_venv():
    """Installs medallion into VENV, unless it is there already from the same requirements."""
    installed = VENV / "installed-requirements.txt"
    if ((VENV / "bin" / "medallion").exists() and installed.exists()
            and installed.read_bytes() == REQUIREMENTS.read_bytes()):
        return
    print(f"== installing medallion into {VENV}")
    shutil.rmtree(VENV, ignore_errors=True)
    if subprocess.run([sys.executable, "-m", "venv", VENV]).returncode != 0:
        raise RunFailed(f"could not make the virtual environment {VENV}")
    # Keeps the environment out of git without touching the project's .gitignore.
    (VENV / ".gitignore").write_text("*\n")
    pip = [VENV / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", "-r", REQUIREMENTS]
    if subprocess.run(pip).returncode != 0:
        raise RunFailed(f"could not install medallion into {VENV}")
    shutil.copyfile(REQUIREMENTS, installed)


def write_config(folder, port, password, collection):
    """medallion's configuration and its memory backend's data: one empty writable collection.

    The formats are those read by medallion 3.0.0's medallion/__init__.py (configuration) and
    medallion/backends/memory_backend.py (data). The limits match stixgate's defaults: the same
    max_content_length, and pages of up to 1000 so that both servers are asked for the same pages."""
    root = f"http://127.0.0.1:{port}/api/"
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": f"{folder}/data.json",
        },
        "users": {USER: password},
        "taxii": {"max_page_size": 1000},
    }
    data = {
        "/discovery": {"title": "medallion", "description": "benchmark", "default": root, "api_roots": [root]},
        "api": {
            "information": {
                "title": "benchmark",
                "description": "benchmark",
                "versions": ["application/taxii+json;version=2.1"],
                "max_content_length": 104857600,
            },
            "status": [],
            "collections": [{
                "id": collection,
                "title": "benchmark",
                "description": "benchmark",
                "can_read": True,
                "can_write": True,
                "media_types": ["application/stix+json;version=2.1"],
                "objects": [],
                "manifest": [],
            }],
        },
    }
    for name, value in (("config.json", config), ("data.json", data)):
        with open(folder / name, "w") as out:
            json.dump(value, out, indent=1)


def bench_medallion(session):
    """medallion with BENCH_MEDALLION_OBJECTS objects, behind HTTP Basic authentication (it has no anonymous
    access), with a password made for this run."""
    medallion_venv()
    port = free_port()
    folder = session.work / "medallion"
    password = secrets.token_urlsafe(12)
    collection = str(uuid.uuid4())
    folder.mkdir()
    write_config(folder, port, password, collection)
    server = Server(session.work, "medallion",
                    [VENV / "bin" / "medallion", "--host", "127.0.0.1", "--port", str(port), "--log-level", "WARN",
                     folder / "config.json"])
    session.servers.append(server)
    server.wait_until_up(f"http://127.0.0.1:{port}/taxii2/", {"Accept": TAXII}, user=(USER, password))
    run_client(session, "medallion", [(server, f"http://127.0.0.1:{port}/api/collections/{collection}/")],
               session.options.medallion_objects, "--user", USER, "--password", password)
