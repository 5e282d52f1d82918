#!/usr/bin/env python3
"""Marks one symbol-version requirement of an ELF64 shared library weak (VER_FLG_WEAK).

usage: weaken_version_need.py LIBRARY VERSION_NAME

The dynamic loader refuses to load a library whose .gnu.version_r names a version its dependency lacks,
unless that entry is weak; then it only loads. Walks Elf64_Verneed / Elf64_Vernaux in place.
Exits 0 when the entry is (now) weak, 1 when the library does not require that version.
"""
import struct
import sys

SHT_GNU_VERNEED = 0x6FFFFFFE
VER_FLG_WEAK = 0x2


def main(path: str, wanted: str) -> int:
    with open(path, "r+b") as f:
        elf = bytearray(f.read())
        if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
            sys.exit(f"{path}: not a little-endian ELF64 file")
        shoff, = struct.unpack_from("<Q", elf, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", elf, 0x3A)
        sections = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
        for _, sh_type, _, _, offset, _, link, info, _, _ in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            strtab = sections[link][4]
            need = offset
            for _ in range(info):  # sh_info holds the number of Verneed entries
                _, cnt, _, aux, nxt = struct.unpack_from("<HHIII", elf, need)
                entry = need + aux
                for _ in range(cnt):
                    _, flags, _, name, aux_next = struct.unpack_from("<IHHII", elf, entry)
                    end = elf.index(0, strtab + name)
                    if elf[strtab + name:end].decode() == wanted:
                        struct.pack_into("<H", elf, entry + 4, flags | VER_FLG_WEAK)
                        f.seek(0)
                        f.write(elf)
                        return 0
                    entry += aux_next
                need += nxt
    return 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
