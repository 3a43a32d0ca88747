"""The ``layerloom`` entry point: the editor by default, the headless CLI for sub-commands.

Qt is imported only when a window is needed, so ``layerloom inspect`` starts fast and works on
machines without a display.
"""

from __future__ import annotations

import argparse
import sys

from runtime import cli as headless

__all__ = ["main"]

LINUX_XCB_HINT = (
    "Qt could not open a window. On Linux, Qt 6.5+ needs the system library libxcb-cursor0 "
    "(Debian/Ubuntu: sudo apt install libxcb-cursor0). Without a display, set "
    "QT_QPA_PLATFORM=offscreen."
)


def _gui_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("open", help="open the editor (the default without a command)")
    p.add_argument("file", nargs="?", help="a .loom project (default: the MLP example)")
    p = sub.add_parser("screenshot", help="render the main window with a project to PNG")
    p.add_argument("file")
    p.add_argument("output", metavar="OUT.png")
    p.add_argument("--size", default="1600x1000", metavar="WxH")
    p.add_argument("--train-steps", type=int, default=0, metavar="N",
                   help="train N steps first so the plots show data")
    p.add_argument("--tab", default="Live", metavar="NAME",
                   help="the training dock's tab to show after training (Live, Samples, …)")


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 1600x1000; received {text!r}") from None
    if not (200 <= w <= 8000 and 200 <= h <= 8000):
        raise ValueError(f"--size {text!r} is outside 200x200 … 8000x8000")
    return w, h


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].endswith(".loom") and len(argv) == 1):
        argv = ["open", *argv]
    parser = headless.build_parser(extra=_gui_parsers)
    args = parser.parse_args(argv)
    if args.command == "open":
        try:
            from app.main_window import run_app
        except ImportError as e:
            return headless._fail(f"{e}. {LINUX_XCB_HINT}")
        return run_app(args.file)
    if args.command == "screenshot":
        from app.screenshot import screenshot

        try:
            size = _size(args.size)
            return screenshot(args.file, args.output, size, train_steps=args.train_steps,
                              tab=args.tab)
        except (ValueError, OSError) as e:
            return headless._fail(str(e))
    return headless.run(args)
