// Delay-load hook for MinGW builds (node-gyp adds its own, win_delay_load_hook.cc, to MSVC builds).
// The import library names the Node-API provider "node.exe"; when the addon is loaded by another
// program that exports Node-API (electron.exe, a renamed node), resolve that name to the running
// program's own module instead of loading a node.exe from disk.
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#include <delayimp.h>
#include <string.h>

static FARPROC WINAPI LoadExeHook(unsigned event, PDelayLoadInfo info) {
  if (event != dliNotePreLoadLibrary) return nullptr;
  if (_stricmp(info->szDll, "node.exe") != 0) return nullptr;
  return reinterpret_cast<FARPROC>(GetModuleHandleA(nullptr));
}

extern "C" {
PfnDliHook __pfnDliNotifyHook2 = LoadExeHook;
}
