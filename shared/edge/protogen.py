"""Generate the protobuf and gRPC Python code from proto/ into gen/ (never edited by hand)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

from shared.edge import DESCRIPTOR_SET

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "gen"


def main() -> int:
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    OUT_DIR.mkdir()
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    import google.api  # googleapis-common-protos ships google/api/*.proto

    googleapis = Path(next(iter(google.api.__path__))).parents[1]
    files = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTO_DIR}",
        f"-I{googleapis}",
        f"-I{well_known}",
        f"--python_out={OUT_DIR}",
        f"--pyi_out={OUT_DIR}",
        f"--grpc_python_out={OUT_DIR}",
        # The descriptors with their comments, for the OpenAPI document's descriptions.
        f"--descriptor_set_out={OUT_DIR / DESCRIPTOR_SET}",
        "--include_source_info",
        *files,
    ]
    code: int = protoc.main(args)
    if code != 0:
        sys.stderr.write(f"protoc failed with exit code {code}\n")
        return code
    for package in {p.parent for p in OUT_DIR.rglob("*_pb2.py")}:
        current = package
        while current != OUT_DIR:
            (current / "__init__.py").touch()
            current = current.parent
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
