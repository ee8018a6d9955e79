package logging

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// RotatingFile is an append-only file that keeps at most maxLines lines: once
// a write completes the maxLines-th line, the file is renamed to <path>.old
// (replacing any older backup) and a new empty file is started. It is safe
// for concurrent use; each Write is written whole, so one Write per record
// keeps records on one line and whole across a rotation. The log and the CDR
// file both use it.
type RotatingFile struct {
	mu       sync.Mutex
	path     string
	maxLines int // 0 = never rotate
	f        *os.File
	lines    int  // lines in the current file
	partial  bool // the last write did not end a line: do not rotate mid-line
	closed   bool
}

// OpenRotatingFile opens (or creates) path for appending. Lines already in
// the file count towards maxLines, so a restart does not reset the limit.
// maxLines 0 means the file is never rotated.
func OpenRotatingFile(path string, maxLines int) (*RotatingFile, error) {
	if maxLines < 0 {
		return nil, fmt.Errorf("open %s: negative max lines %d", path, maxLines)
	}
	r := &RotatingFile{path: path, maxLines: maxLines}
	lines, partial, err := countLines(path)
	if err != nil {
		return nil, err
	}
	r.lines, r.partial = lines, partial
	if err := r.open(os.O_APPEND); err != nil {
		return nil, err
	}
	if r.full() {
		if err := r.rotateLocked(); err != nil {
			_ = r.f.Close()
			return nil, err
		}
	}
	return r, nil
}

// countLines counts the newlines of an existing file (0 if there is none).
func countLines(path string) (lines int, partial bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64*1024)
	var last byte
	buf := make([]byte, 64*1024)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			lines += bytes.Count(buf[:n], []byte{'\n'})
			last = buf[n-1]
		}
		if err == io.EOF {
			return lines, last != 0 && last != '\n', nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("read %s: %w", path, err)
		}
	}
}

func (r *RotatingFile) open(mode int) error {
	f, err := os.OpenFile(r.path, os.O_CREATE|os.O_WRONLY|mode, 0o640)
	if err != nil {
		return fmt.Errorf("open %s: %w", r.path, err)
	}
	r.f = f
	return nil
}

func (r *RotatingFile) full() bool {
	return r.maxLines > 0 && r.lines >= r.maxLines && !r.partial
}

// Write appends p and rotates when it completed the last allowed line. An
// error from the rotation is returned after p has been written.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, fmt.Errorf("write %s: %w", r.path, os.ErrClosed)
	}
	if r.f == nil {
		// A failed rotation left no file open: try again rather than lose every later record.
		if err := r.open(os.O_APPEND); err != nil {
			return 0, err
		}
	}
	n, err := r.f.Write(p)
	r.lines += bytes.Count(p[:n], []byte{'\n'})
	if n > 0 {
		r.partial = p[n-1] != '\n'
	}
	if err != nil {
		return n, fmt.Errorf("write %s: %w", r.path, err)
	}
	if r.full() {
		if err := r.rotateLocked(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// Rotate moves the current file to <path>.old now, whatever its length.
func (r *RotatingFile) Rotate() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("rotate %s: %w", r.path, os.ErrClosed)
	}
	return r.rotateLocked()
}

func (r *RotatingFile) rotateLocked() error {
	if r.f != nil {
		if err := r.f.Close(); err != nil {
			r.f = nil
			return fmt.Errorf("rotate %s: close: %w", r.path, err)
		}
		r.f = nil
	}
	if err := os.Rename(r.path, r.path+".old"); err != nil {
		// Keep appending to the current file; the next full write retries.
		if oerr := r.open(os.O_APPEND); oerr != nil {
			return errors.Join(fmt.Errorf("rotate %s: %w", r.path, err), oerr)
		}
		return fmt.Errorf("rotate %s: %w", r.path, err)
	}
	r.lines, r.partial = 0, false
	return r.open(os.O_TRUNC)
}

// Lines reports how many lines the current file holds.
func (r *RotatingFile) Lines() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lines
}

// Path is the live file's name; the backup is Path()+".old".
func (r *RotatingFile) Path() string { return r.path }

// Close closes the file; later writes fail with os.ErrClosed.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if err != nil {
		return fmt.Errorf("close %s: %w", r.path, err)
	}
	return nil
}
