#!/usr/bin/env python3
"""Writes the seed corpora for the fuzz targets.

It encodes files from docs/format.md alone (an independent implementation of
the spec): if `cargo test -p bitcask --test fuzz_corpus` and the decoders
disagree with these bytes, the spec or the code is wrong.
"""
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def header(kind, segment_id):
    body = b"SFLK" + struct.pack("<HBBQI", 1, kind, 0, segment_id, 0)
    return body + struct.pack("<I", zlib.crc32(body))


def record(kind, seq, meta, key, value):
    head = struct.pack("<BQQII", kind, seq, meta, len(key), len(value))
    body = head + struct.pack("<I", zlib.crc32(head)) + key + value
    return struct.pack("<I", zlib.crc32(body)) + body


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


put = record(1, 1, 0, b"key", b"value")
write("record_decode", "put", put)
write("record_decode", "tombstone", record(2, 2, 0, b"key", b""))
write("record_decode", "expiring_put", record(1, 3, 1_900_000_000_000, b"k", b"v" * 40))
write("record_decode", "raft_entry", record(5, 7, 3, b"", b"payload"))
write("record_decode", "truncated", put[:-2])
write("record_decode", "bad_crc", put[:-1] + b"X")

write("file_header_decode", "data", header(1, 1))
write("file_header_decode", "hint", header(2, 42))
write("file_header_decode", "raft_log", header(3, 7))
write("file_header_decode", "future_version", b"SFLK" + struct.pack("<HBBQI", 9, 1, 0, 1, 0) + b"\0\0\0\0")

seg = header(1, 1)
seq = 1
for i in range(5):
    seg += record(1, seq, 0, b"key%d" % i, b"value%d" % i)
    seq += 1
seg += record(2, seq, 0, b"key1", b"")
seq += 1
batch = record(3, seq, 2, b"", b"")
batch += record(1, seq + 1, 0, b"b1", b"x")
batch += record(1, seq + 2, 0, b"b2", b"y")
batch += record(4, seq + 3, 2, b"", b"")
write("segment_recovery", "clean", seg + batch)
write("segment_recovery", "torn_batch", seg + batch[:-10])
write("segment_recovery", "torn_tail", seg[:-3])
mid = bytearray(seg + batch)
mid[40] ^= 0xFF
write("segment_recovery", "corrupt_middle", bytes(mid))
write("segment_recovery", "zero_tail", seg + b"\0" * 100)
write("segment_recovery", "header_only", header(1, 1))
write("segment_recovery", "short_header", header(1, 1)[:10])
write("segment_recovery", "wrong_id", header(1, 2) + record(1, 1, 0, b"k", b"v"))

# Hint files: entries and a trailer, as in docs/format.md.
def hint_entry(kind, seq, expiry, offset, value_len, key):
    body = struct.pack("<BQQIIH", kind, seq, expiry, offset, value_len, len(key)) + key
    return struct.pack("<I", zlib.crc32(body)) + body


def hint_trailer(entries, data_len, max_seq=0):
    body = struct.pack("<BQQQ", 0xFF, entries, data_len, max_seq)
    return struct.pack("<I", zlib.crc32(body)) + body


hints = hint_entry(1, 1, 0, 24, 6, b"key0") + hint_entry(2, 2, 0, 60, 0, b"key1")
write("hint_decode", "entries_and_trailer", hints + hint_trailer(2, 4096))
write("hint_decode", "truncated", hints[:-3])
write("hint_decode", "trailer_only", hint_trailer(0, 24))

# Raft log segments: RaftEntry records (seq = index, meta = term).
raft = header(3, 1)
for index in range(1, 4):
    raft += record(5, index, 1, b"", bytes([0, index]))
write("raft_log_recovery", "three_entries", raft)
write("raft_log_recovery", "torn", raft[:-5])
write("raft_log_recovery", "header_only", header(3, 1))
write("raft_log_recovery", "data_header", header(1, 1) + record(1, 1, 0, b"k", b"v"))

# Raft messages: arbitrary bytes (postcard layouts belong to the raftlog crate).
write("raft_message_decode", "empty", b"")
write("raft_message_decode", "small", bytes(range(16)))
write("raft_message_decode", "zeros", b"\0" * 64)
