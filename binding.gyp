{
  # The same sources as CMakeLists.txt, for `node-gyp rebuild` (npm run build:gyp, and npm's own
  # build when the packed package is installed).
  # PETSc and MPI flags come from pkg-config; set PKG_CONFIG_PATH=$PETSC_DIR/$PETSC_ARCH/lib/pkgconfig
  # for a PETSc of your own.
  "targets": [
    {
      "target_name": "petscml",
      # Every native/*.cc, as CMakeLists.txt globs them (test/build/sources.test.ts checks that the
      # two agree). gyp runs the command in this file's directory; paths are relative to it.
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native').filter((f) => f.endsWith('.cc')).sort().map((f) => 'native/' + f).join(' ')\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "defines": ["NAPI_EXPERIMENTAL", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": [
        "-std=c++17",
        "-fno-trapping-math",
        "<!@(pkg-config --cflags petsc)",
        "<!@(pkg-config --cflags ompi-c 2>/dev/null || mpicc --showme:compile)"
      ],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "libraries": [
        "<!@(pkg-config --libs petsc)",
        "<!@(pkg-config --libs ompi-c 2>/dev/null || mpicc --showme:link)",
        "-lblas",
        "-ldl",
        "-Wl,-rpath,<!(pkg-config --variable=libdir petsc)"
      ]
    }
  ]
}
