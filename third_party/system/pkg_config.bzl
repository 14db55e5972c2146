"""Repository rules that expose Debian's system libraries to Bazel.

pkg_config_repository runs `pkg-config` when the repository is fetched and
writes one cc_library per entry with the flags it reports. Headers are not
declared: /usr/include is a built-in include directory of the auto-configured
toolchain. After an apt upgrade of -dev packages run `bazel clean --expunge`.
"""

def _split_flags(text):
    return [f for f in text.strip().split(" ") if f]

def _pkg_config(ctx, args):
    res = ctx.execute(["pkg-config"] + args)
    if res.return_code != 0:
        fail("pkg-config %s failed (is the -dev package installed? run tools/setup.sh): %s" %
             (" ".join(args), res.stderr))
    return res.stdout

def _pkg_config_repository_impl(ctx):
    lines = ['package(default_visibility = ["//visibility:public"])', ""]
    for name, modules in ctx.attr.libs.items():
        mods = [m for m in modules.split(" ") if m]
        cflags = _split_flags(_pkg_config(ctx, ["--cflags"] + mods))
        libs = _split_flags(_pkg_config(ctx, ["--libs"] + mods))
        defines = [f[2:] for f in cflags if f.startswith("-D")]
        copts = [f for f in cflags if not f.startswith("-D") and not f.startswith("-I/usr/include")]
        lines.append("cc_library(")
        lines.append("    name = %r," % name)
        lines.append("    defines = %r," % defines)
        lines.append("    copts = %r," % copts)
        lines.append("    linkopts = %r," % libs)
        lines.append(")")
        lines.append("")
    for name, opts in ctx.attr.plain.items():
        lines.append("cc_library(")
        lines.append("    name = %r," % name)
        lines.append("    linkopts = %r," % [o for o in opts.split(" ") if o])
        lines.append(")")
        lines.append("")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD", "\n".join(lines))

pkg_config_repository = repository_rule(
    implementation = _pkg_config_repository_impl,
    attrs = {
        # target name -> space-separated pkg-config module names
        "libs": attr.string_dict(),
        # target name -> space-separated link options (libraries without a .pc)
        "plain": attr.string_dict(),
    },
    local = True,
)

def _shared_data_repository_impl(ctx):
    root = ctx.path(Label("@//:WORKSPACE")).dirname
    shared = root.dirname.get_child(ctx.attr.relative_path)
    if not shared.exists or not shared.get_child("testdata").exists:
        fail("Berth's shared test data is missing: expected %s/testdata next to the checkout " % shared +
             "(the tests read ../shared/testdata in place; clone the project with its shared folder).")
    for child in ["testdata", "spec"]:
        if shared.get_child(child).exists:
            ctx.symlink(shared.get_child(child), child)
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)
    ctx.file("BUILD", """package(default_visibility = ["//visibility:public"])

filegroup(
    name = "testdata_v1",
    srcs = glob(["testdata/v1/**"]),
)

filegroup(
    name = "testdata_docker_save",
    srcs = glob(["testdata/docker-save/**"]),
)
""")

shared_data_repository = repository_rule(
    implementation = _shared_data_repository_impl,
    attrs = {"relative_path": attr.string(default = "shared")},
    local = True,
)
