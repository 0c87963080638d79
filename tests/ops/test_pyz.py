"""The single-file build: scripts/build-pyz makes dist/gateway.pyz, which serves the example config on a bare
Python (the interpreter the venv was made from, without the venv's packages)."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.openai import OpenAIFake
from tests.ops.process import chat, running

ROOT = Path(__file__).resolve().parents[2]
BUILD_SECONDS = 180


def shiv_available() -> bool:
    if importlib.util.find_spec("shiv") is not None:
        return True
    # The build script installs shiv itself; skip only where that cannot work.
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "shiv"], capture_output=True,
                         timeout=BUILD_SECONDS)
    importlib.invalidate_caches()
    return pip.returncode == 0 and importlib.util.find_spec("shiv") is not None


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not shiv_available():
        pytest.skip("shiv cannot be installed here (pip install shiv failed): the .pyz cannot be built")
    out = tmp_path_factory.mktemp("pyz") / "gateway.pyz"
    build = subprocess.run([str(ROOT / "scripts" / "build-pyz"), str(out)], capture_output=True, text=True,
                           timeout=BUILD_SECONDS)
    assert build.returncode == 0 and out.exists(), f"scripts/build-pyz failed:\n{build.stderr[-3000:]}"
    return out


async def test_the_pyz_serves_the_example_config_on_a_bare_python(pyz: Path, tmp_path: Path,
                                                                  fake_openai: OpenAIFake) -> None:
    bare_python = getattr(sys, "_base_executable", sys.executable)
    config = tmp_path / "config.yaml"
    config.write_text((ROOT / "config.example.yaml").read_text())
    env = {"GATEWAY_DB": str(tmp_path / "ledger.db"), "OPENAI_BASE_URL": fake_openai.url,
           "OPENAI_API_KEY": fake_openai.keys[0], "SHIV_ROOT": str(tmp_path / "shiv"),
           "PYTHONPATH": "", "VIRTUAL_ENV": ""}
    async with running(config, command=[bare_python, "-I", str(pyz)], env=env) as gw, \
            aiohttp.ClientSession() as session:
        status, body = await chat(session, gw.url, key="sk-demo-change-me")
        assert status == 200, body
        assert body["choices"][0]["message"]["content"]
        assert fake_openai.requests[-1].header("authorization") == f"Bearer {fake_openai.keys[0]}"
        gw.send(signal.SIGTERM)
        assert await gw.exit_code() == 0
    assert (tmp_path / "ledger.db").exists()
    assert os.path.getsize(pyz) > 1_000_000
