package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The checkpoint file "meta.checkpoint" holds per-log state that is not in
// the segments, written atomically (temporary file, fsync, rename, fsync
// of the directory):
//
//	magic[4] "SLMC" | version u8 (1) | reserved[3] | logStartOffset i64 | cleanerOffset i64 | crc32c u32 (of the preceding bytes)
//
// cleanerOffset is the first offset compaction has not yet cleaned (the
// "first dirty offset"). A missing or corrupt checkpoint means start
// offset = first segment's base and nothing cleaned. Version 1 is the only
// version.
const (
	checkpointName    = "meta.checkpoint"
	checkpointVersion = 1
	checkpointSize    = 4 + 4 + 8 + 8 + 4
)

var checkpointMagic = [4]byte{'S', 'L', 'M', 'C'}

type checkpoint struct {
	logStart      int64
	cleanerOffset int64
}

func (c checkpoint) encode() []byte {
	b := make([]byte, 0, checkpointSize)
	b = append(b, checkpointMagic[:]...)
	b = append(b, checkpointVersion, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(c.logStart))
	b = binary.BigEndian.AppendUint64(b, uint64(c.cleanerOffset))
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	if len(b) != checkpointSize || [4]byte(b[:4]) != checkpointMagic {
		return checkpoint{}, fmt.Errorf("checkpoint: bad size or magic")
	}
	if b[4] != checkpointVersion {
		return checkpoint{}, fmt.Errorf("checkpoint: unknown version %d", b[4])
	}
	if crc32.Checksum(b[:checkpointSize-4], castagnoli) != binary.BigEndian.Uint32(b[checkpointSize-4:]) {
		return checkpoint{}, fmt.Errorf("checkpoint: crc mismatch")
	}
	return checkpoint{
		logStart:      int64(binary.BigEndian.Uint64(b[8:])),
		cleanerOffset: int64(binary.BigEndian.Uint64(b[16:])),
	}, nil
}
