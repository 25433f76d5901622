{
  "targets": [
    {
      "target_name": "accept_workbench",
      "sources": ["native/src/addon.cc", "native/src/fast_open_client.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines!": [],
      "conditions": [
        ["OS=='win'", {
          "sources": ["native/src/win/win_acceptor.cc"],
          "libraries": ["-lws2_32"],
          "defines": ["_WIN32_WINNT=0x0A00", "WIN32_LEAN_AND_MEAN", "NOMINMAX", "_HAS_EXCEPTIONS=1"],
          "msvs_settings": {
            "VCCLCompilerTool": {
              "ExceptionHandling": 1,
              "AdditionalOptions": ["/std:c++17", "/utf-8"]
            }
          }
        }, {
          "sources": ["native/src/posix/posix_acceptor.cc"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
            "MACOSX_DEPLOYMENT_TARGET": "10.15",
            "OTHER_CPLUSPLUS_FLAGS": ["-O2"]
          }
        }]
      ]
    }
  ]
}
