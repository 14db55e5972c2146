"""grpc_cc_library: proto/*.proto -> C++ protobuf + gRPC library.

Runs Debian's /usr/bin/protoc with /usr/bin/grpc_cpp_plugin in a genrule
(no download, no rules_proto). Consumers include "proto/<name>.pb.h" and
"proto/<name>.grpc.pb.h".
"""

def grpc_cc_library(name, srcs, deps = [], grpc = True, **kwargs):
    outs = []
    hdrs = []
    for src in srcs:
        base = src[:-len(".proto")]
        outs += ["%s.pb.cc" % base, "%s.pb.h" % base]
        hdrs.append("%s.pb.h" % base)
        if grpc:
            outs += ["%s.grpc.pb.cc" % base, "%s.grpc.pb.h" % base]
            hdrs.append("%s.grpc.pb.h" % base)
    grpc_flags = ""
    if grpc:
        grpc_flags = "--grpc_out=$(GENDIR) --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_srcs" for d in deps],
        outs = outs,
        cmd = "/usr/bin/protoc --proto_path=. --cpp_out=$(GENDIR) " + grpc_flags +
              " ".join(["$(location %s)" % s for s in srcs]),
    )
    native.filegroup(name = name + "_srcs", srcs = srcs)
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = hdrs,
        deps = deps + ["@system_libs//:grpcpp"],
        **kwargs
    )
