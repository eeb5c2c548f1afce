#!/usr/bin/python3
"""Build a Slurm release with sfactoryd from a CI job, over TLS with a token.

Needs only Debian packages: python3-grpcio, python3-protobuf and
protobuf-compiler-grpc (for protoc and grpc_python_plugin, which turn
sfactory.proto into Python modules at start-up).

    sfactory_ci.py --address build01.example.org:7443 --ca-file ca.pem \
        --token-file /run/secrets/sfactory-token --proto sfactory.proto \
        --out artifacts/ 24.11

The token may also come from SFACTORY_TOKEN (CI systems that inject secrets
as environment variables) or SFACTORY_TOKEN_FILE. It is sent as
"authorization: Bearer <token>" and never printed.

Exit status: 0 when the build succeeded and every artifact was fetched and
matched its sha256; 1 when the build failed or was cancelled; 2 for bad
arguments; 3 when the daemon could not be reached or refused the caller.
"""

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
import uuid

import grpc


def load_api(proto_path):
    """Generates sfactory_pb2 / sfactory_pb2_grpc from the proto and imports them."""
    out = tempfile.mkdtemp(prefix="sfactory-api-")
    include = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(proto_path))))
    subprocess.run(
        ["protoc", "-I", include, "-I", "/usr/include",
         "--python_out", out, "--grpc_python_out", out,
         "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
         os.path.relpath(os.path.abspath(proto_path), include)],
        check=True)
    sys.path.insert(0, out)
    from sfactory.v1 import sfactory_pb2, sfactory_pb2_grpc  # noqa: E402
    return sfactory_pb2, sfactory_pb2_grpc


def read_token(args):
    if args.token_file:
        with open(args.token_file, encoding="ascii") as f:
            return f.read().strip()
    if os.environ.get("SFACTORY_TOKEN_FILE"):
        with open(os.environ["SFACTORY_TOKEN_FILE"], encoding="ascii") as f:
            return f.read().strip()
    if os.environ.get("SFACTORY_TOKEN"):
        return os.environ["SFACTORY_TOKEN"].strip()
    sys.exit("sfactory_ci: no token: pass --token-file or set SFACTORY_TOKEN(_FILE)")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("version", help='Slurm series or release, e.g. "24.11"')
    p.add_argument("--address", required=True, help="host:port of sfactoryd's TLS listener")
    p.add_argument("--ca-file", help="CA that signed the daemon's certificate (default: system CAs)")
    p.add_argument("--token-file")
    p.add_argument("--proto", required=True, help="path to sfactory/v1/sfactory.proto")
    p.add_argument("--recipe", default="")
    p.add_argument("--variant", action="append", default=[])
    p.add_argument("--out", default="artifacts")
    p.add_argument("--no-verify", action="store_true")
    args = p.parse_args()

    pb, rpc = load_api(args.proto)
    root_certs = open(args.ca_file, "rb").read() if args.ca_file else None
    creds = grpc.composite_channel_credentials(
        grpc.ssl_channel_credentials(root_certificates=root_certs),
        grpc.access_token_call_credentials(read_token(args)))
    channel = grpc.secure_channel(args.address, creds)
    builds = rpc.BuildServiceStub(channel)

    # One request_id per CI job: a retried submit joins the same build.
    request_id = os.environ.get("CI_JOB_ID") or os.environ.get("GITHUB_RUN_ID") or str(uuid.uuid4())
    spec = pb.BuildSpec(slurm_version=args.version, recipe=args.recipe, variants=args.variant)
    try:
        resp = builds.SubmitBuild(pb.SubmitBuildRequest(
            spec=spec, request_id="ci-" + request_id, no_verify=args.no_verify), timeout=60)
    except grpc.RpcError as e:
        print(f"sfactory_ci: submit failed: {e.code().name}: {e.details()}", file=sys.stderr)
        return 3 if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED,
                                 grpc.StatusCode.PERMISSION_DENIED) else 2
    build = resp.build
    outcome = pb.SubmitOutcome.Name(resp.outcome)
    print(f"build {build.id}: Slurm {build.spec.slurm_version} ({outcome})", flush=True)

    # Follow the log; resume from the last offset if the stream breaks.
    offset, final = 0, None
    terminal = (pb.BUILD_STATE_SUCCEEDED, pb.BUILD_STATE_FAILED, pb.BUILD_STATE_CANCELLED)
    while final is None:
        try:
            for event in builds.WatchBuild(pb.WatchBuildRequest(
                    build_id=build.id, log_offset=offset, follow=True)):
                if event.HasField("log"):
                    sys.stdout.buffer.write(event.log.data)
                    sys.stdout.flush()
                    offset = event.log.offset + len(event.log.data)
                elif event.build.state in terminal:
                    final = event.build
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.UNAVAILABLE:
                raise
            time.sleep(2)  # the daemon restarts: resume from offset
    if final.state != pb.BUILD_STATE_SUCCEEDED:
        print(f"sfactory_ci: build {final.id} {pb.BuildState.Name(final.state)}: {final.error}",
              file=sys.stderr)
        return 1

    os.makedirs(args.out, exist_ok=True)
    for artifact in final.artifacts:
        path = os.path.join(args.out, artifact.name)
        digest = hashlib.sha256()
        with open(path + ".part", "wb") as f:
            for chunk in builds.FetchArtifact(pb.FetchArtifactRequest(
                    build_id=final.id, name=artifact.name)):
                f.write(chunk.data)
                digest.update(chunk.data)
        if digest.hexdigest() != artifact.sha256:
            print(f"sfactory_ci: {artifact.name}: sha256 mismatch", file=sys.stderr)
            return 1
        os.replace(path + ".part", path)
        print(f"{artifact.sha256}  {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
