{
  "targets": [
    {
      "target_name": "invdiff",
      "sources": ["<!@(node scripts/torch-config.js sources)"],
      "include_dirs": [
        "native",
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/torch-config.js include)"
      ],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_CPP_EXCEPTIONS_ALL", "_GLIBCXX_USE_CXX11_ABI=1", "USE_DISTRIBUTED", "USE_C10D_GLOO"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-Wno-unused-parameter"],
      "libraries": [
        "-L<!(node scripts/torch-config.js libdir)",
        "-Wl,-rpath,<!(node scripts/torch-config.js libdir)",
        "-ltorch", "-ltorch_cpu", "-lc10"
      ]
    }
  ]
}
