"""Compiler options for Berth's own code (never for generated or system code)."""

BERTH_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
]
