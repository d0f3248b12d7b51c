"""The bad-input matrix: every unusable target image, checkpoint, recipe, override and output
folder is refused with one clear message (no traceback, exit code != 0) before the run folder
exists; every odd-but-usable image is loaded correctly and a run starts from it."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image

from gan_adapt.io.images import MAX_PIXELS, load_image

from .conftest import DATA, SMOKE_RECIPE, TOY_RECIPE, assert_refused, run_meta, toy_run_args

# ---------------------------------------------------------------------------------------------
# Target images

#: Left half red, right half blue: orientation and colour are both visible in the means.
HALVES = np.zeros((40, 60, 3), np.uint8)
HALVES[:, :30] = (255, 0, 0)
HALVES[:, 30:] = (0, 0, 255)


def _write_images(folder):
    """Every kind of target a user may point at, refused ones and accepted ones."""
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(HALVES).save(folder / "good.png")
    Image.fromarray(HALVES).save(folder / "good.jpg", quality=95)
    refused = {
        "missing": folder / "missing.png",
        "not an image": folder / "notes.png",
        "truncated png": folder / "cut.png",
        "truncated jpeg": folder / "cut.jpg",
        "1x1": folder / "dot.png",
    }
    refused["not an image"].write_text("these are my notes, not pixels")
    for name in ("png", "jpg"):
        whole = (folder / f"good.{name}").read_bytes()
        (folder / f"cut.{name}").write_bytes(whole[: len(whole) // 2])
    Image.new("RGB", (1, 1), (9, 9, 9)).save(refused["1x1"])

    accepted = folder / "accepted"
    accepted.mkdir()
    Image.new("L", (24, 24), 128).save(accepted / "grayscale.png")
    Image.new("RGBA", (24, 24), (255, 0, 0, 0)).save(accepted / "rgba.png")  # fully transparent
    Image.fromarray(np.full((24, 24), 40000, np.uint16)).save(accepted / "16bit.png")
    Image.new("CMYK", (24, 24), (0, 255, 255, 0)).save(accepted / "cmyk.jpg")  # red in CMYK
    rotated = Image.fromarray(HALVES)
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the red half ends up on top
    rotated.save(accepted / "exif-rotated.jpg", exif=exif, quality=95)
    side = int(MAX_PIXELS ** 0.5) + 100  # just over the limit: downscaled 2x
    Image.new("RGB", (side, side - 50), (10, 200, 30)).save(accepted / "huge.png",
                                                           compress_level=1)
    return refused, accepted


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return _write_images(tmp_path_factory.mktemp("images"))


REFUSED_IMAGES = {  # case -> words the message must contain
    "missing": ["no such file or folder"],
    "not an image": ["not an image file"],
    "truncated png": ["truncated or corrupt"],
    "truncated jpeg": ["truncated or corrupt"],
    "1x1": ["1x1 pixels", "at least 8x8"],
}


@pytest.mark.parametrize("case", sorted(REFUSED_IMAGES))
def test_unusable_target_image_is_refused_before_the_run_folder(case, images, cli, tmp_path):
    path = images[0][case]
    out = tmp_path / "run"
    result = cli(*toy_run_args(out), "--target", path)
    assert_refused(result, path.name, *REFUSED_IMAGES[case])
    assert not out.exists()


def _means(tensor: torch.Tensor) -> list[float]:
    return [round(v, 2) for v in tensor.mean((0, 2, 3)).tolist()]


@pytest.mark.filterwarnings("ignore:.*downscaled")
def test_odd_but_usable_images_load_as_rgb(images):
    accepted = images[1]
    assert _means(load_image(accepted / "grayscale.png")) == [0.0, 0.0, 0.0]  # 128 -> ~0
    assert _means(load_image(accepted / "rgba.png")) == [1.0, 1.0, 1.0]  # alpha over white
    assert _means(load_image(accepted / "16bit.png")) == [0.22] * 3  # 40000/65535 -> 0.22
    assert _means(load_image(accepted / "cmyk.jpg")) == [1.0, -1.0, -1.0]  # red
    for image in accepted.iterdir():
        loaded = load_image(image, 16)
        assert loaded.shape == (1, 3, 16, 16) and loaded.abs().max() <= 1, image.name


def test_exif_orientation_is_honoured(images):
    upright = load_image(images[1] / "exif-rotated.jpg")
    assert upright.shape[-2:] == (60, 40)  # stored 60 wide, shown 60 tall
    top, bottom = upright[..., :30, :], upright[..., 30:, :]
    assert top[0, 0].mean() > 0.9 and top[0, 2].mean() < -0.9  # red on top
    assert bottom[0, 2].mean() > 0.9 and bottom[0, 0].mean() < -0.9  # blue below


def test_huge_image_is_downscaled_with_a_note(images):
    with pytest.warns(UserWarning, match=r"downscaled 2x on load"):
        loaded = load_image(images[1] / "huge.png")
    assert loaded.shape[-1] * loaded.shape[-2] <= MAX_PIXELS
    assert _means(loaded) == [round(10 / 127.5 - 1, 2), round(200 / 127.5 - 1, 2),
                              round(30 / 127.5 - 1, 2)]


def test_a_run_starts_from_every_usable_image(images, cli, tmp_path):
    """One few-shot run whose targets are all the odd images at once; the CLI prints the
    downscale note as one plain line."""
    out = tmp_path / "run"
    result = cli(*toy_run_args(out), "--target", images[1], "--set", "adapt.steps=1",
                 "--set", "search.steps=1")
    assert result.code == 0, result.err
    assert run_meta(out)["status"] == "done"
    notes = [line for line in result.err.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "huge.png" in notes[0] and "downscaled 2x" in notes[0]
    assert "UserWarning" not in result.err


# ---------------------------------------------------------------------------------------------
# Checkpoints: the tiny smoke recipe, its generator or discriminator checkpoint replaced


def _another_architecture(path):
    torch.save({"layer1.0.conv1.weight": torch.zeros(2), "fc.weight": torch.zeros(2)}, path)


def _nan_weights(path):
    checkpoint = torch.load(SMOKE_RECIPE.parent / "assets" / "tiny-stylegan2-32.pt",
                            weights_only=True)
    name = next(iter(checkpoint["g_ema"]))
    checkpoint["g_ema"][name] = torch.full_like(checkpoint["g_ema"][name], float("nan"))
    torch.save(checkpoint, path)


CHECKPOINTS = {  # case -> (how to write the file, words the message must contain)
    "missing": (None, ["does not exist", "ffhq-1024"]),
    "empty": (lambda p: p.write_bytes(b""), ["is empty (0 bytes)"]),
    "truncated": (lambda p: p.write_bytes((DATA / "ros64_rosinality_ckpt.pt").read_bytes()
                                          [:400_000]), ["truncated or corrupt"]),
    "random bytes": (lambda p: p.write_bytes(np.random.default_rng(0).bytes(5000)),
                     ["not a checkpoint gan-adapt can read"]),
    "another architecture": (_another_architecture, ["ResNet-style classifier",
                                                     "not a StyleGAN2 generator"]),
    "nan weights": (_nan_weights, ["NaN or infinite values"]),
}


@pytest.mark.parametrize("case", sorted(CHECKPOINTS))
def test_unusable_generator_checkpoint_is_refused(case, cli, tmp_path):
    write, words = CHECKPOINTS[case]
    path = tmp_path / "generator.pt"
    if write is not None:
        write(path)
    out = tmp_path / "run"
    result = cli("run", SMOKE_RECIPE, "--out", out,
                 "--set", f"generator.params.checkpoint={path}", plugins="oneshotclip")
    assert_refused(result, str(path), *words)
    assert not out.exists()


RESOLUTION_MISMATCHES = {
    # The discriminator of a 64-px network next to the 32-px generator.
    "discriminator resolution": (
        f"discriminator.params.checkpoint={DATA / 'ros64_rosinality_ckpt.pt'}",
        ["discriminator for 64x64 images", "generator makes 32x32 images"]),
    # The patch head reads a feature map the 32-px discriminator does not have.
    "patch feature": ("adapt.losses[3].params.feature=b64.conv1",
                      ["no feature map 'b64.conv1'", "b32.conv1", "adapt.losses[3]"]),
    # PatchNCE crops larger than the generator's images.
    "crop size": ("adapt.losses[5].params.crop_size=64",
                  ["crop_size 64 is larger than the generator's 32x32 images"]),
}


@pytest.mark.parametrize("case", sorted(RESOLUTION_MISMATCHES))
def test_resolution_mismatch_with_the_recipe_is_refused(case, cli, tmp_path):
    override, words = RESOLUTION_MISMATCHES[case]
    out = tmp_path / "run"
    result = cli("run", SMOKE_RECIPE, "--out", out, "--set", override, plugins="oneshotclip")
    assert_refused(result, *words)
    assert not out.exists()


# ---------------------------------------------------------------------------------------------
# Recipes and --set overrides: exit code 2, every problem with its TOML path


RECIPE_PROBLEMS = {  # case -> (--set overrides, words the message must contain)
    "unknown key": (["adapt.stpes=3"], ["adapt.stpes: unknown key (did you mean 'steps'?)"]),
    "wrong type": (['adapt.steps="many"'], ["adapt.steps: Input should be a valid integer"]),
    "zero steps": (["adapt.steps=0"], ["adapt.steps: Input should be greater than or equal to 1"]),
    "negative steps": (["search.steps=-5"], ["search.steps", "got -5"]),
    "zero weight": (["adapt.losses[0].weight=0"], ["adapt.losses[0].weight", "greater than 0"]),
    "negative weight": (["adapt.losses[2].weight=-1"], ["adapt.losses[2].weight", "got -1"]),
    "unknown component": (["adapt.losses[1].name=adversarail"],
                          ["unknown loss 'adversarail' (did you mean 'adversarial'?)"]),
    "missing plugin": (['requires=["gan-adapt-nonexistent"]'],
                       ["plugin 'gan-adapt-nonexistent' is not installed"]),
    "unknown component param": (["adapt.losses[1].params.r1_evry=2"],
                                ["adapt.losses[1].params.r1_evry: unknown key"]),
    "several at once": (["adapt.steps=0", "seed=1.5", "output.sample_every=-1"],
                        ["3 problem(s)", "adapt.steps", "seed", "output.sample_every"]),
    # --set itself
    "--set without =": (["adapt.steps"], ["--set 'adapt.steps': expected KEY=VALUE"]),
    "--set empty key part": (["adapt..steps=3"], ["--set adapt..steps=3: bad key"]),
    "--set bad index": (["adapt.losses[x].weight=1"], ["--set adapt.losses[x].weight=1",
                                                       "bad index [x]"]),
    "--set index out of range": (["adapt.losses[9].weight=1"], ["adapt.losses[9] does not exist"]),
    "--set into a value": (["adapt.steps.x=1"], ["adapt.steps is not a table"]),
    "--set unparsable value": (["adapt.steps=[1,"], ["adapt.steps", "got '[1,'"]),
}


@pytest.mark.parametrize("case", sorted(RECIPE_PROBLEMS))
def test_bad_recipe_values_are_refused_with_their_paths(case, cli, tmp_path):
    overrides, words = RECIPE_PROBLEMS[case]
    out = tmp_path / "run"
    args = [a for o in overrides for a in ("--set", o)]
    result = cli(*toy_run_args(out), *args)
    assert_refused(result, *words, code=2)
    assert not out.exists()


def test_invalid_toml_is_refused_with_its_position(cli, tmp_path):
    recipe = tmp_path / "broken.toml"
    recipe.write_text('name = "x"\n[adapt\nsteps = 3\n')
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert_refused(result, "invalid TOML", "line 2", str(recipe), code=2)
    assert not (tmp_path / "run").exists()


def test_recipe_file_that_is_not_text_is_refused(cli, tmp_path):
    recipe = tmp_path / "binary.toml"
    recipe.write_bytes(b"\xff\xfe\x00binary")
    result = cli(*toy_run_args(tmp_path / "run", recipe))
    assert_refused(result, "cannot read recipe file", code=2)


# ---------------------------------------------------------------------------------------------
# Output folder


def test_output_folder_under_a_file_is_refused(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    result = cli(*toy_run_args(blocker / "run"))
    assert_refused(result, "cannot write to output folder", "Not a directory")
    assert blocker.read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders anyway")
def test_read_only_output_folder_is_refused(cli, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        result = cli(*toy_run_args(parent / "run"))
    finally:
        parent.chmod(0o755)
    assert_refused(result, "cannot write to output folder", "Permission denied")
    assert not (parent / "run").exists()


def test_non_empty_output_folder_is_refused_and_left_alone(cli, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = cli(*toy_run_args(out))
    assert_refused(result, "exists and is not empty", "--resume")
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_toy_recipe_fixture_is_valid(cli, tmp_path):
    """The matrix above refuses only what it changed: the unchanged recipe validates."""
    result = cli("validate", TOY_RECIPE, "--plugins-dir", TOY_RECIPE.parents[1])
    assert result.code == 0 and "OK" in result.out, result.err
