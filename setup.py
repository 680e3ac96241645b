"""Builds the _fastconv extension with the project's own CMake build (see pyproject.toml)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent


def project_version():
    """The one version: project() in CMakeLists.txt."""
    text = (ROOT / "CMakeLists.txt").read_text()
    return re.search(r"project\(fastconv VERSION ([0-9.]+)", text).group(1)


class CMakeBuild(build_ext):
    """Configures and builds the _fastconv target in build-pip/.../cmake. With the environment
    variable FASTCONV_CMAKE_BUILD_DIR set to an existing Release build of this tree (as the test
    command does, so CI does not compile the library a third time), that build is reused as it
    is configured: only _fastconv is brought up to date and copied into the package."""

    def build_extension(self, ext):
        reused = os.environ.get("FASTCONV_CMAKE_BUILD_DIR")
        build_dir = Path(reused).resolve() if reused else Path(self.build_temp).resolve() / "cmake"
        jobs = str(os.cpu_count() or 1)
        if not reused:
            subprocess.run(["cmake", "-S", str(ROOT), "-B", str(build_dir),
                            "-DCMAKE_BUILD_TYPE=Release", "-DFASTCONV_BUILD_TESTS=OFF",
                            "-DFASTCONV_BUILD_BENCH=OFF", f"-DFASTCONV_PYTHON={sys.executable}"],
                           check=True)
        subprocess.run(["cmake", "--build", str(build_dir), "--target", "_fastconv", "-j", jobs],
                       check=True)
        built = next((build_dir / "python" / "fastconv").glob("_fastconv*.so"))
        target = Path(self.get_ext_fullpath(ext.name))
        target.parent.mkdir(parents=True, exist_ok=True)
        self.copy_file(str(built), str(target))
        # The headers compiled expressions include (fastconv/custom.hpp; python/CMakeLists.txt).
        self.copy_tree(str(built.parent / "include"), str(target.parent / "include"))


setup(version=project_version(),
      options={"build": {"build_base": "build-pip"}, "egg_info": {"egg_base": "build-pip"}},
      ext_modules=[Extension("fastconv._fastconv", sources=[])],
      cmdclass={"build_ext": CMakeBuild})
