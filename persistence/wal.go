package persistence

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/devcluster/devcluster/internal/oserr"
)

// The write-ahead log format (https://www.sqlite.org/fileformat2.html#walformat):
// a 32-byte header, then frames of a 24-byte frame header and one page.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagicLE         = 0x377f0682 // checksums over little-endian words
	walMagicBE         = 0x377f0683 // checksums over big-endian words
	walVersion         = 3007000
)

// walScan is what scanWAL found in a write-ahead log.
type walScan struct {
	// Empty is a log of no bytes, or none at all: the file holds everything.
	Empty bool
	// HeaderDamaged reports a header SQLite would not accept (magic,
	// version, page size or checksum): it would ignore every frame.
	HeaderDamaged bool
	// Frames counts whole frames in the file, of any generation.
	Frames int
	// Valid counts the frames from the start whose salts and cumulative
	// checksum SQLite accepts; Replayed counts those up to and including
	// the last commit frame among them: what SQLite folds into the
	// database when it opens the file.
	Valid, Replayed int
	// Commits counts the commit frames among the Replayed ones.
	Commits int
	// LaterFrames counts the frames after the first invalid one that carry
	// the header's salts (this generation of the log), LaterCommits the
	// commit frames among them, and LastLater is the index of the last of
	// them (-1 when there is none).
	LaterFrames, LaterCommits, LastLater int
}

// Damaged reports a log whose replay would silently drop committed
// transactions: a damaged header when there are frames, or commit frames
// of this generation after a frame SQLite stops at (see scanWAL).
func (w walScan) Damaged() bool {
	return (w.HeaderDamaged && w.Frames > 0) || w.LaterCommits > 0
}

// Dropped is how many frames of this generation a replay leaves out: the
// frames after the last replayed commit up to the last frame carrying the
// header's salts.
func (w walScan) Dropped() int {
	if w.HeaderDamaged {
		return w.Frames
	}
	if w.LastLater < 0 {
		return w.Valid - w.Replayed
	}
	return w.LastLater + 1 - w.Replayed
}

// scanWAL walks every frame of the write-ahead log at path (a database's
// PATH-wal) without changing it, the way SQLite's recovery does, and goes
// on past the first frame SQLite would stop at.
//
// The rule that tells damage from a crash: SQLite appends frames with one
// write each for the frame header and the page, in order, and a process
// kill loses no completed write. What a crash leaves after the last commit
// is therefore (a) nothing, (b) a partial last frame (the file ends
// inside it), (c) frames of the transaction that was being written, none of
// them a commit frame (SQLite may rewrite a frame of the open transaction
// in place and fix the later checksums only at commit, so those frames can
// carry this generation's salts behind a bad checksum), or (d) frames of
// an older generation, whose salts differ (SQLite restarts the log from
// its first frame after a checkpoint and leaves the old frames behind). A
// commit frame with this generation's salts after the first frame SQLite
// rejects is none of these: it is a committed transaction, acknowledged to
// a client, that the replay would throw away, so the log is damaged.
// Frames are found at their fixed positions (32 + i*(24+page size)), so
// bytes overwritten in the middle do not hide the frames behind them. Two
// 32-bit salts match by chance once in 2^64. Not found: damage that hits
// only the last commit frame (it then looks like a torn tail), and damage
// that leaves every frame valid.
func scanWAL(path string) (walScan, error) {
	out := walScan{LastLater: -1}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		out.Empty = true
		return out, nil
	}
	if err != nil {
		return out, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return out, err
	}
	size := fi.Size()
	if size == 0 {
		out.Empty = true
		return out, nil
	}
	head := make([]byte, walHeaderSize)
	if _, err := io.ReadFull(f, head); err != nil {
		out.HeaderDamaged = true
		return out, nil
	}
	be := binary.BigEndian
	magic := be.Uint32(head[0:])
	pageSize := int64(be.Uint32(head[8:]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if (magic != walMagicLE && magic != walMagicBE) || be.Uint32(head[4:]) != walVersion ||
		pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		out.HeaderDamaged = true
		// Count what may have been frames, for the message.
		out.Frames = int((size - walHeaderSize) / (walFrameHeaderSize + 4096))
		return out, nil
	}
	frameSize := walFrameHeaderSize + pageSize
	out.Frames = int((size - walHeaderSize) / frameSize)
	order := binary.ByteOrder(binary.LittleEndian)
	if magic == walMagicBE {
		order = be
	}
	s1, s2 := walChecksum(order, head[:24], 0, 0)
	if s1 != be.Uint32(head[24:]) || s2 != be.Uint32(head[28:]) {
		out.HeaderDamaged = true
		return out, nil
	}
	salt1, salt2 := be.Uint32(head[16:]), be.Uint32(head[20:])

	frame := make([]byte, frameSize)
	chain := true // every frame so far valid
	for i := 0; i < out.Frames; i++ {
		if _, err := f.ReadAt(frame, walHeaderSize+int64(i)*frameSize); err != nil {
			return out, fmt.Errorf("read %s: %w", path, err)
		}
		pgno, commit := be.Uint32(frame[0:]), be.Uint32(frame[4:])
		current := be.Uint32(frame[8:]) == salt1 && be.Uint32(frame[12:]) == salt2 && pgno != 0
		if chain {
			c1, c2 := walChecksum(order, frame[:8], s1, s2)
			c1, c2 = walChecksum(order, frame[walFrameHeaderSize:], c1, c2)
			if current && c1 == be.Uint32(frame[16:]) && c2 == be.Uint32(frame[20:]) {
				s1, s2 = c1, c2
				out.Valid++
				if commit != 0 {
					out.Replayed = out.Valid
				}
				continue
			}
			chain = false
		}
		if current {
			out.LaterFrames++
			out.LastLater = i
			if commit != 0 {
				out.LaterCommits++
			}
		}
	}
	// Commits among the replayed frames, for the message.
	for i := 0; i < out.Replayed; i++ {
		if _, err := f.ReadAt(frame[:8], walHeaderSize+int64(i)*frameSize); err != nil {
			return out, fmt.Errorf("read %s: %w", path, err)
		}
		if be.Uint32(frame[4:]) != 0 {
			out.Commits++
		}
	}
	return out, nil
}

// checkWAL refuses a write-ahead log whose replay would lose committed
// transactions without a word: a damaged header (SQLite would ignore the
// whole log), or commit frames after a frame SQLite stops at (see
// scanWAL). A torn tail, which a crash leaves, is accepted: SQLite drops
// only what was never committed.
func checkWAL(path string) (walScan, error) {
	wal := path + "-wal"
	w, err := scanWAL(wal)
	if err != nil {
		return w, fmt.Errorf("has a write-ahead log %s that cannot be read: %v", wal, oserr.Cause(err))
	}
	base := filepath.Base(wal)
	switch {
	case w.HeaderDamaged && w.Frames > 0:
		return w, fmt.Errorf("has a damaged write-ahead log %s (not an SQLite WAL header): SQLite would discard the transactions in it; both files are left as they are: restore them from a backup, or run devcluster db accept-loss --db-file %s to start on what the database file alone holds (the log is kept as %s.damaged)", wal, path, base)
	case w.Damaged():
		return w, fmt.Errorf("has a damaged write-ahead log %s: frame %d of %d is broken and %d committed transaction(s) follow it; SQLite would replay the %d frame(s) before it, then drop %d frame(s) for good; both files are left as they are: restore them from a backup, or run devcluster db accept-loss --db-file %s to keep what comes before the damage (the log is kept as %s.damaged)",
			wal, w.Valid+1, w.Frames, w.LaterCommits, w.Replayed, w.Dropped(), path, base)
	}
	return w, nil
}

// walChecksum continues SQLite's WAL checksum (s1, s2) over b, whose
// length is a multiple of 8, reading 32-bit words in order.
func walChecksum(order binary.ByteOrder, b []byte, s1, s2 uint32) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s1 += order.Uint32(b[i:]) + s2
		s2 += order.Uint32(b[i+4:]) + s1
	}
	return s1, s2
}
