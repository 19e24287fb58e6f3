/* ProcessPrng for Wine 8, which lacks bcryptprimitives.dll (Rust's std on Windows imports it
 * since Rust 1.78). Only for running the SSPI tests under Wine (scripts/test); never shipped.
 * Built by scripts/test with x86_64-w64-mingw32-gcc; RtlGenRandom is advapi32's
 * SystemFunction036. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
