"""CIFAR-100: 60,000 32×32 colour photos in 100 fine classes, a download option beside CIFAR-10.

Same params as CIFAR-10 (download, mirror, limits, seed, normalise, augment); the official
test set is the validation part.  The archive's SHA-256 is the ``file_hash`` of
``cifar-100-python.tar.gz`` in Keras' ``keras/datasets/cifar100.py`` (size 169,001,437 bytes,
MD5 eb9058c3a382ffc7106e4002c42a8d85 as on the official page).
"""

from __future__ import annotations

from runtime.data.cifar import CIFAR100_FOLDER, extract_cifar100, read_cifar100
from runtime.data.images import _PARAMS, _image_splits, _need
from runtime.data.registry import Context, DatasetSpec, register
from runtime.data.remote import REMOTE, RemoteFile, RemoteSet
from runtime.data.splits import Splits

__all__ = ["CIFAR100_CLASSES"]

CIFAR100_CLASSES = tuple("""
apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus butterfly
camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile
cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp
lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree
orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy porcupine possum
rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper snail snake spider
squirrel streetcar sunflower sweet_pepper table tank telephone television tiger tractor train
trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())

REMOTE.setdefault("cifar100", RemoteSet("https://www.cs.toronto.edu/~kriz/", (
    RemoteFile("cifar-100-python.tar.gz", 169001437,
               "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),
)))


def _build(p: dict, ctx: Context) -> Splits:
    folder = ctx.root / "cifar100"
    batches = folder / CIFAR100_FOLDER
    if not batches.is_dir():
        archive = folder / REMOTE["cifar100"].files[0].name
        fetched = not archive.exists()
        if fetched:
            _need(ctx, p, "cifar100", folder, [archive.name])
        extract_cifar100(archive, folder)
        if fetched:
            archive.unlink()  # the batches are what we read; keep 161 MB off the disk
    x, y, xt, yt, classes = read_cifar100(batches)
    return _image_splits("cifar100", p, x, y, xt, yt, classes, batches)


register(DatasetSpec(
    "cifar100", "CIFAR-100",
    "60,000 32×32 colour photos in 100 classes (apples to worms), 600 per class: CIFAR-10's "
    "harder sibling.", "download", "Images", "classification", _PARAMS, _build))
