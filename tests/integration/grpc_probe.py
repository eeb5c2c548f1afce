#!/usr/bin/python3
"""A gRPC client the project did not write into its CLI: Python grpcio.

The integration tests use it to call sfactoryd the way an outside client
would, including things the sfactory CLI never does (forged identity
metadata, a token over plaintext, an upload cut halfway).

    grpc_probe.py CONNECTION COMMAND [ARGS]

Prints "OK <result>" and exits 0, or prints "ERROR <CODE> <details>" and
exits 1. The stubs are generated at start-up from --proto with protoc and
grpc_python_plugin (docs/examples/sfactory_ci.py, load_api).
"""

import argparse
import hashlib
import os
import sys

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "docs", "examples"))
from sfactory_ci import load_api  # noqa: E402


def channel_for(args):
    if args.unix:
        return grpc.insecure_channel("unix:" + args.unix)
    if args.plaintext:
        return grpc.insecure_channel(args.address)
    root = open(args.ca_file, "rb").read() if args.ca_file else None
    key = open(args.key_file, "rb").read() if args.key_file else None
    cert = open(args.cert_file, "rb").read() if args.cert_file else None
    creds = grpc.ssl_channel_credentials(root_certificates=root, private_key=key,
                                         certificate_chain=cert)
    if args.token:
        creds = grpc.composite_channel_credentials(
            creds, grpc.access_token_call_credentials(args.token))
    return grpc.secure_channel(args.address, creds)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proto", required=True)
    p.add_argument("--unix")
    p.add_argument("--address")
    p.add_argument("--ca-file")
    p.add_argument("--cert-file")
    p.add_argument("--key-file")
    p.add_argument("--token", help="bearer token text (tests only; the CLI never takes one)")
    p.add_argument("--plaintext", action="store_true", help="no TLS on --address")
    p.add_argument("--header", action="append", default=[],
                   help="extra metadata KEY=VALUE, e.g. a forged sfactory-user")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("whoami")
    c = sub.add_parser("cancel")
    c.add_argument("build_id")
    s = sub.add_parser("submit")
    s.add_argument("version")
    s.add_argument("--recipe", default="")
    s.add_argument("--priority", type=int, default=0)
    a = sub.add_parser("add-source")
    a.add_argument("name")
    a.add_argument("file")
    a.add_argument("--chunk", type=int, default=64 * 1024)
    a.add_argument("--cut-after", type=int, default=-1,
                   help="cancel the call after sending this many data messages")
    a.add_argument("--size", type=int, default=0, help="size to claim in the header")
    sub.add_parser("list-sources")
    h = sub.add_parser("health", help="grpc.health.v1 Check, with hand-encoded messages")
    h.add_argument("service", nargs="?", default="")
    q = sub.add_parser("set-queue-paused")
    q.add_argument("paused", choices=["true", "false"])
    q.add_argument("--reason", default="")
    d = sub.add_parser("debug-bundle", help="GetDebugBundle into a file, sha256-checked")
    d.add_argument("build_id")
    d.add_argument("out")
    args = p.parse_args()

    pb, rpc = load_api(args.proto)
    channel = channel_for(args)
    metadata = tuple(tuple(h.split("=", 1)) for h in args.header)
    try:
        if args.command == "whoami":
            r = rpc.AuthServiceStub(channel).WhoAmI(pb.WhoAmIRequest(), metadata=metadata,
                                                    timeout=30)
            print(f"OK name={r.name} via={r.via} admin={str(r.admin).lower()}")
        elif args.command == "cancel":
            r = rpc.BuildServiceStub(channel).CancelBuild(
                pb.CancelBuildRequest(build_id=args.build_id), metadata=metadata, timeout=30)
            print(f"OK {r.id} {pb.BuildState.Name(r.state)}")
        elif args.command == "submit":
            r = rpc.BuildServiceStub(channel).SubmitBuild(
                pb.SubmitBuildRequest(spec=pb.BuildSpec(slurm_version=args.version,
                                                        recipe=args.recipe),
                                      priority=args.priority),
                metadata=metadata, timeout=30)
            print(f"OK {r.build.id} owner={r.build.owner}")
        elif args.command == "add-source":
            data = open(args.file, "rb").read()

            def requests():
                yield pb.AddSourceRequest(header=pb.Source(name=args.name, size=args.size))
                for n, i in enumerate(range(0, len(data), args.chunk)):
                    if n == args.cut_after:
                        future.cancel()
                        return
                    yield pb.AddSourceRequest(data=data[i:i + args.chunk])

            stub = rpc.SourceServiceStub(channel)
            future = stub.AddSource.future(requests(), metadata=metadata, timeout=60)
            r = future.result()
            print(f"OK {r.name} {r.sha256} {r.size}")
        elif args.command == "health":
            # HealthCheckRequest{service = 1}; HealthCheckResponse{status = 1}.
            name = args.service.encode()
            request = (b"\x0a" + bytes([len(name)]) + name) if name else b""
            check = channel.unary_unary("/grpc.health.v1.Health/Check")
            reply = check(request, metadata=metadata, timeout=10)
            status = reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0
            print("OK " + {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING",
                           3: "SERVICE_UNKNOWN"}.get(status, str(status)))
        elif args.command == "set-queue-paused":
            r = rpc.BuildServiceStub(channel).SetQueuePaused(
                pb.SetQueuePausedRequest(paused=args.paused == "true", reason=args.reason),
                metadata=metadata, timeout=30)
            print(f"OK paused={str(r.paused).lower()} by={r.paused_by} queued={r.queued_builds}")
        elif args.command == "list-sources":
            r = rpc.SourceServiceStub(channel).ListSources(pb.ListSourcesRequest(),
                                                           metadata=metadata, timeout=30)
            print("OK " + " ".join(f"{s.name}={s.sha256}" for s in r.sources))
        elif args.command == "debug-bundle":
            header, data = None, bytearray()
            for chunk in rpc.BuildServiceStub(channel).GetDebugBundle(
                    pb.GetDebugBundleRequest(build_id=args.build_id), metadata=metadata,
                    timeout=60):
                if header is None:
                    header = chunk.artifact
                if chunk.offset != len(data):
                    print(f"ERROR PROBE chunk at {chunk.offset}, expected {len(data)}")
                    return 1
                data += chunk.data
            digest = hashlib.sha256(data).hexdigest()
            if header is None or digest != header.sha256 or len(data) != header.size:
                print(f"ERROR PROBE got {len(data)} bytes sha256 {digest}, header {header}")
                return 1
            open(args.out, "wb").write(data)
            print(f"OK {header.name} {header.sha256} {header.size}")
    except grpc.FutureCancelledError:
        print("ERROR CANCELLED the probe cancelled the call")
        return 1
    except grpc.RpcError as e:
        print(f"ERROR {e.code().name} {e.details()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
