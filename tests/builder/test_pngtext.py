"""The project inside a picture: an iTXt chunk in PNGs Layerloom writes."""

import numpy as np
import pytest
from PIL import Image

from builder import pngtext
from builder.gallery import template_path
from builder.serialize import dumps, load, loads


def picture(path):
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(4, 4, 3)).save(path)
    return path


def test_a_project_goes_in_and_comes_out_unchanged_and_the_picture_still_reads(tmp_path):
    png = picture(tmp_path / "p.png")
    before = np.asarray(Image.open(png))
    text = dumps(load(template_path("lenet")))  # non-ASCII inside: "×", "–"
    pngtext.embed(png, text)
    assert pngtext.read(png) == text
    pngtext.embed(png, text.replace("LeNet", "LeNet II"))  # replaced, not added twice
    assert pngtext.read(png).count("LeNet II") >= 1 and png.read_bytes().count(
        pngtext.KEY) == 1
    assert (np.asarray(Image.open(png)) == before).all()  # Pillow reads it: CRCs are right
    assert loads(pngtext.read(png)).networks["main"].nodes["conv1"].block == "Conv2d"


def test_pictures_without_a_project_and_files_that_are_not_pictures(tmp_path):
    assert pngtext.read(picture(tmp_path / "plain.png")) is None
    (tmp_path / "x.png").write_bytes(b"not a png")
    with pytest.raises(pngtext.PngTextError, match="not a PNG"):
        pngtext.read(tmp_path / "x.png")
    cut = picture(tmp_path / "cut.png")
    cut.write_bytes(cut.read_bytes()[:40])
    with pytest.raises(pngtext.PngTextError):
        pngtext.read(cut)
