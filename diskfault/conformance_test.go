package diskfault

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// The conformance tests run every FS through the same non-crash behaviour,
// so that code tested on Mem behaves the same on OS.

type filesystemUnderTest struct {
	name string
	// open returns a filesystem and an empty directory in it.
	open func(t *testing.T) (FS, string)
}

var filesystemsUnderTest = []filesystemUnderTest{
	{"OS", func(t *testing.T) (FS, string) { return Default, t.TempDir() }},
	{"Mem", func(t *testing.T) (FS, string) {
		m := NewMem()
		t.Cleanup(func() { checkInvariants(t, m, false) })
		return m, "/root"
	}},
	{"WrapOS", func(t *testing.T) (FS, string) { return Wrap(Default, nil), t.TempDir() }},
	{"WrapMem", func(t *testing.T) (FS, string) {
		// An injector that is asked about every operation but never fires,
		// so what is tested is the wrapper's forwarding.
		return Wrap(NewMem(), EIO(new(Toggle))), "/root"
	}},
}

func forEachFS(t *testing.T, test func(t *testing.T, fsys FS, root string)) {
	for _, under := range filesystemsUnderTest {
		t.Run(under.name, func(t *testing.T) {
			fsys, root := under.open(t)
			if err := fsys.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			test(t, fsys, root)
		})
	}
}

func expectErrno(t *testing.T, err error, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one matching %v", err, want)
	}
}

func TestConformanceWriteThenRead(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, root string) {
		name := filepath.Join(root, "f")
		writeFile(t, fsys, name, []byte("hello, world"))
		file, err := fsys.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		buffer := make([]byte, 5)
		if n, err := file.Read(buffer); n != 5 || err != nil || string(buffer) != "hello" {
			t.Fatalf("Read = %d %v %q", n, err, buffer[:n])
		}
		rest, err := io.ReadAll(file)
		if err != nil || string(rest) != ", world" {
			t.Fatalf("ReadAll = %q %v", rest, err)
		}
		if n, err := file.Read(buffer); n != 0 || err != io.EOF {
			t.Fatalf("Read at end = %d %v, want 0 EOF", n, err)
		}
		buffer = make([]byte, 10)
		n, err := file.ReadAt(buffer, 7)
		if n != 5 || err != io.EOF || string(buffer[:n]) != "world" {
			t.Fatalf("short ReadAt = %d %v %q, want 5 EOF", n, err, buffer[:n])
		}
		info, err := file.Stat()
		if err != nil || info.Size() != 12 || info.IsDir() || info.Name() != "f" {
			t.Fatalf("Stat = %v %v", info, err)
		}
	})
}

func TestConformanceOpenModes(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, root string) {
		name := filepath.Join(root, "f")
		writeFile(t, fsys, name, []byte("hello"))

		readOnly, err := fsys.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readOnly.Write([]byte("x")); err == nil {
			t.Fatal("Write on a read-only file succeeded")
		}
		if err := readOnly.Truncate(0); err == nil {
			t.Fatal("Truncate on a read-only file succeeded")
		}
		if err := readOnly.Sync(); err != nil {
			t.Fatalf("Sync on a read-only file: %v", err)
		}
		readOnly.Close()

		readWrite, err := fsys.OpenReadWrite(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := readWrite.Write([]byte("XY")); err != nil {
			t.Fatal(err)
		}
		readWrite.Close()
		if got := readFile(t, fsys, name); string(got) != "XYllo" {
			t.Fatalf("after OpenReadWrite+Write: %q", got)
		}

		created, err := fsys.Create(name) // Truncates.
		if err != nil {
			t.Fatal(err)
		}
		created.Close()
		if got := readFile(t, fsys, name); len(got) != 0 {
			t.Fatalf("Create did not truncate: %q", got)
		}

		_, err = fsys.Open(filepath.Join(root, "missing"))
		expectErrno(t, err, fs.ErrNotExist)
		_, err = fsys.OpenReadWrite(filepath.Join(root, "missing"))
		expectErrno(t, err, fs.ErrNotExist)
		_, err = fsys.Create(filepath.Join(root, "missing", "f"))
		expectErrno(t, err, fs.ErrNotExist)
		_, err = fsys.Create(root)
		expectErrno(t, err, syscall.EISDIR)
		_, err = fsys.OpenReadWrite(root)
		expectErrno(t, err, syscall.EISDIR)
	})
}

func TestConformanceHolesAndTruncate(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, root string) {
		name := filepath.Join(root, "f")
		file, err := fsys.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		if _, err := file.WriteAt([]byte("ab"), 10); err != nil {
			t.Fatal(err)
		}
		want := append(make([]byte, 10), "ab"...)
		if got := readFile(t, fsys, name); !bytes.Equal(got, want) {
			t.Fatalf("hole: %q", got)
		}
		if err := file.Truncate(11); err != nil {
			t.Fatal(err)
		}
		if err := file.Truncate(20); err != nil {
			t.Fatal(err)
		}
		want = append(make([]byte, 10), 'a')
		want = append(want, make([]byte, 9)...)
		if got := readFile(t, fsys, name); !bytes.Equal(got, want) {
			t.Fatalf("shrink then extend must zero-fill: %q", got)
		}
		if err := file.Truncate(-1); err == nil {
			t.Fatal("Truncate(-1) succeeded")
		}
		if _, err := file.WriteAt([]byte("x"), -1); err == nil {
			t.Fatal("WriteAt(-1) succeeded")
		}
		if _, err := file.ReadAt(make([]byte, 1), -1); err == nil {
			t.Fatal("ReadAt(-1) succeeded")
		}
	})
}

func TestConformanceCloseAndOrphans(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, root string) {
		name := filepath.Join(root, "f")
		writeFile(t, fsys, name, []byte("orphan"))
		file, err := fsys.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := fsys.Remove(name); err != nil {
			t.Fatal(err)
		}
		buffer := make([]byte, 6)
		if n, err := file.ReadAt(buffer, 0); n != 6 || string(buffer) != "orphan" {
			t.Fatalf("read of removed-but-open file = %d %v %q", n, err, buffer)
		}
		if err := file.Close(); err != nil {
			t.Fatal(err)
		}
		expectErrno(t, file.Close(), os.ErrClosed)
		_, err = file.Read(buffer)
		expectErrno(t, err, os.ErrClosed)
	})
}

func TestConformanceDirectories(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, root string) {
		deep := filepath.Join(root, "a", "b", "c")
		if err := fsys.MkdirAll(deep, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := fsys.MkdirAll(deep, 0o755); err != nil {
			t.Fatalf("MkdirAll of an existing directory: %v", err)
		}
		for _, name := range []string{"zeta", "alpha", "mid"} {
			writeFile(t, fsys, filepath.Join(root, "a", name), []byte(name))
		}
		names, err := fsys.List(filepath.Join(root, "a"))
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"alpha", "b", "mid", "zeta"}; !slices.Equal(names, want) {
			t.Fatalf("List = %v, want %v", names, want)
		}
		info, err := fsys.Stat(filepath.Join(root, "a", "b"))
		if err != nil || !info.IsDir() || info.Name() != "b" {
			t.Fatalf("Stat dir = %v %v", info, err)
		}
		info, err = fsys.Stat(filepath.Join(root, "a", "mid"))
		if err != nil || info.IsDir() || info.Size() != 3 {
			t.Fatalf("Stat file = %v %v", info, err)
		}
		_, err = fsys.Stat(filepath.Join(root, "nope"))
		expectErrno(t, err, fs.ErrNotExist)
		_, err = fsys.List(filepath.Join(root, "nope"))
		expectErrno(t, err, fs.ErrNotExist)
		_, err = fsys.List(filepath.Join(root, "a", "mid"))
		expectErrno(t, err, syscall.ENOTDIR)
		expectErrno(t, fsys.MkdirAll(filepath.Join(root, "a", "mid", "x"), 0o755), syscall.ENOTDIR)

		expectErrno(t, fsys.Remove(filepath.Join(root, "a")), syscall.ENOTEMPTY)
		expectErrno(t, fsys.Remove(filepath.Join(root, "nope")), fs.ErrNotExist)
		if err := fsys.Remove(deep); err != nil {
			t.Fatalf("Remove of an empty directory: %v", err)
		}
		if err := fsys.RemoveAll(filepath.Join(root, "a")); err != nil {
			t.Fatal(err)
		}
		if err := fsys.RemoveAll(filepath.Join(root, "a")); err != nil {
			t.Fatalf("RemoveAll of a missing path: %v", err)
		}
		if names, err := fsys.List(root); err != nil || len(names) != 0 {
			t.Fatalf("after RemoveAll: %v %v", names, err)
		}
	})
}

func TestConformanceOpenDir(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, root string) {
		writeFile(t, fsys, filepath.Join(root, "f"), []byte("x"))
		dir, err := fsys.OpenDir(root)
		if err != nil {
			t.Fatal(err)
		}
		defer dir.Close()
		if err := dir.Sync(); err != nil {
			t.Fatalf("directory Sync: %v", err)
		}
		if _, err := dir.Read(make([]byte, 1)); err == nil {
			t.Fatal("Read on a directory succeeded")
		}
		if _, err := dir.Write([]byte("x")); err == nil {
			t.Fatal("Write on a directory succeeded")
		}
		if info, err := dir.Stat(); err != nil || !info.IsDir() {
			t.Fatalf("Stat of directory handle = %v %v", info, err)
		}
		_, err = fsys.OpenDir(filepath.Join(root, "f"))
		expectErrno(t, err, syscall.ENOTDIR)
		_, err = fsys.OpenDir(filepath.Join(root, "missing"))
		expectErrno(t, err, fs.ErrNotExist)
	})
}

func TestConformanceRename(t *testing.T) {
	forEachFS(t, func(t *testing.T, fsys FS, root string) {
		from, to := filepath.Join(root, "from"), filepath.Join(root, "to")
		writeFile(t, fsys, from, []byte("new"))
		writeFile(t, fsys, to, []byte("old"))
		if err := fsys.Rename(from, to); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, fsys, to); string(got) != "new" {
			t.Fatalf("renamed content %q", got)
		}
		_, err := fsys.Stat(from)
		expectErrno(t, err, fs.ErrNotExist)
		expectErrno(t, fsys.Rename(from, to), fs.ErrNotExist)

		if err := fsys.Rename(to, to); err != nil {
			t.Fatalf("rename onto itself: %v", err)
		}
		dir := filepath.Join(root, "dir")
		if err := fsys.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
			t.Fatal(err)
		}
		expectErrno(t, fsys.Rename(to, dir), syscall.EEXIST)
		expectErrno(t, fsys.Rename(dir, filepath.Join(dir, "sub", "inside")), syscall.EINVAL)
		moved := filepath.Join(root, "moved")
		if err := fsys.Rename(dir, moved); err != nil {
			t.Fatal(err)
		}
		if info, err := fsys.Stat(filepath.Join(moved, "sub")); err != nil || !info.IsDir() {
			t.Fatalf("directory rename lost its children: %v %v", info, err)
		}
	})
}

func TestOSFilesHaveDescriptors(t *testing.T) {
	file, err := Default.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	if _, ok := file.(FdFile); !ok {
		t.Fatal("OS file does not implement FdFile")
	}
	wrapped, err := Wrap(Default, nil).Create(filepath.Join(t.TempDir(), "g"))
	if err != nil {
		t.Fatal(err)
	}
	defer wrapped.Close()
	if _, ok := wrapped.(FdFile); ok {
		t.Fatal("a wrapped file exposes Fd, which would let reads bypass injection")
	}
}
