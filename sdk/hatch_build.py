"""Build hook: the protobuf and gRPC code of ../proto (or ./proto in an sdist), generated into the
wheel as the ``scorekeeper.v1`` package. Generated at every build, never edited by hand."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ProtoBuildHook(BuildHookInterface):  # type: ignore[misc]  # hatchling is a build-time dependency only
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        import google.api
        import grpc_tools
        from grpc_tools import protoc

        root = Path(self.root)
        protos = next((p for p in (root / "proto", root.parent / "proto") if p.is_dir()), None)
        if protos is None:
            raise RuntimeError(f"no proto/ directory beside {root} or in it: build from a checkout or an sdist")
        self._out = Path(tempfile.mkdtemp(prefix="scorekeeper-proto-"))
        googleapis = Path(next(iter(google.api.__path__))).parents[1]
        well_known = Path(grpc_tools.__file__).parent / "_proto"
        files = sorted(str(p.relative_to(protos)) for p in protos.rglob("*.proto"))
        code = protoc.main(
            [
                "protoc",
                f"-I{protos}",
                f"-I{googleapis}",
                f"-I{well_known}",
                f"--python_out={self._out}",
                f"--pyi_out={self._out}",
                f"--grpc_python_out={self._out}",
                *files,
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed with exit code {code}")
        package = self._out / "scorekeeper" / "v1"
        for directory in (package.parent, package):
            (directory / "__init__.py").touch()
        for generated in sorted(package.parent.rglob("*")):
            if generated.is_file():
                build_data["force_include"][str(generated)] = str(generated.relative_to(self._out))

    def finalize(self, version: str, build_data: dict[str, Any], artifact_path: str) -> None:
        shutil.rmtree(self._out, ignore_errors=True)
