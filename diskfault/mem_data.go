package diskfault

import (
	"math/rand/v2"
	"slices"
)

const (
	// pageBytes is the unit in which a crash keeps, drops or tears unsynced
	// data: the page-cache page, which the kernel writes back as a whole
	// or not at all unless the device tears it.
	pageBytes = 4096
	// sectorBytes is the unit a device writes atomically; a torn page is
	// torn at sector boundaries, never inside a sector.
	sectorBytes = 512
	// sectorsPerPage is how many sectors a page holds; a tear draws one bit
	// for each.
	sectorsPerPage = pageBytes / sectorBytes
	// fileBytesMax bounds the size of one Mem file, so that a wild offset
	// from a caller's bug returns EFBIG instead of exhausting memory.
	fileBytesMax = 1 << 32
)

// page is one page of a file image. A nil *page is a hole: it reads as
// zeros and costs no memory, so extending a file with Truncate is free.
type page [pageBytes]byte

// image is one version of a file's content, page by page.
//
// Invariants: len(pages) is sizeBytes rounded up to whole pages; the bytes
// of the last page at and past sizeBytes are zero (so growing needs no
// clearing); and a page shared between a file's two images sits at the same
// index in both and is never written in place — writablePage copies it
// first.
type image struct {
	pages     []*page
	sizeBytes int64
}

func pagesFor(sizeBytes int64) int64 {
	return (sizeBytes + pageBytes - 1) / pageBytes
}

// pageAt returns page index, or nil (zeros) past the end.
func (im *image) pageAt(index int64) *page {
	if index < int64(len(im.pages)) {
		return im.pages[index]
	}
	return nil
}

// readAt copies the bytes at offset into p and returns how many.
func (im *image) readAt(p []byte, offset int64) int {
	if offset >= im.sizeBytes {
		return 0
	}
	n := min(int64(len(p)), im.sizeBytes-offset)
	for done := int64(0); done < n; {
		position := offset + done
		index, within := position/pageBytes, position%pageBytes
		length := min(pageBytes-within, n-done)
		if source := im.pages[index]; source != nil {
			copy(p[done:done+length], source[within:within+length])
		} else {
			clear(p[done : done+length])
		}
		done += length
	}
	return int(n)
}

// writablePage returns page index of im ready to be written: allocated if
// it was a hole, copied if it is shared with other (the file's other
// image).
func (im *image) writablePage(index int64, other *image) *page {
	target := im.pages[index]
	switch {
	case target == nil:
		target = new(page)
	case other.pageAt(index) == target:
		copied := *target
		target = &copied
	default:
		return target
	}
	im.pages[index] = target
	return target
}

// writeAt writes p at offset, growing the image with zeros as needed.
func (im *image) writeAt(p []byte, offset int64, other *image) {
	if end := offset + int64(len(p)); end > im.sizeBytes {
		im.resize(end, other)
	}
	for done := int64(0); done < int64(len(p)); {
		position := offset + done
		index, within := position/pageBytes, position%pageBytes
		length := min(pageBytes-within, int64(len(p))-done)
		copy(im.writablePage(index, other)[within:], p[done:done+length])
		done += length
	}
}

// resize sets the size; bytes it adds read as zeros.
func (im *image) resize(size int64, other *image) {
	count := pagesFor(size)
	if size < im.sizeBytes {
		clear(im.pages[count:]) // Let the dropped pages be collected.
		im.pages = im.pages[:count]
		if within := size % pageBytes; within != 0 && im.pages[count-1] != nil {
			clear(im.writablePage(count-1, other)[within:])
		}
	} else {
		oldCount := len(im.pages)
		im.pages = slices.Grow(im.pages, int(count)-oldCount)[:count]
		clear(im.pages[oldCount:]) // Holes.
	}
	im.sizeBytes = size
}

// copyRange makes bytes [start, end) of dst equal to those of src, which
// reads as zeros past its end; end must not exceed dst.sizeBytes. Whole
// pages are shared rather than copied.
func copyRange(dst, src *image, start, end int64) {
	for position := start; position < end; {
		index, within := position/pageBytes, position%pageBytes
		length := min(pageBytes-within, end-position)
		source := src.pageAt(index)
		switch {
		case dst.pages[index] == source:
			// The same page, or two holes: nothing differs.
		case length == pageBytes:
			// A whole page of src is valid in dst: src's bytes past its
			// size are zero, and dst's size reaches the page's end.
			dst.pages[index] = source
		case source == nil:
			clear(dst.writablePage(index, src)[within : within+length])
		default:
			copy(dst.writablePage(index, src)[within:within+length], source[within:within+length])
		}
		position += length
	}
}

// fileData is the content of one Mem file, twice: current is what the
// process reads back (the page cache), durable is what the disk holds as of
// the last successful Sync. The two share every page they have in common.
//
// To keep Sync and Crash proportional to what changed rather than to the
// file's size, fileData tracks where the two images may differ instead of
// keeping a log of writes:
//
//   - below stableBytes, only in the pages of dirtyPages;
//   - at and above stableBytes, anywhere (appends, extensions and the
//     region that a truncation exposed all live there).
//
// stableBytes is the smallest size the file had since the last sync, so for
// an append-only file dirtyPages stays empty and a Sync touches exactly the
// appended pages.
type fileData struct {
	current image
	durable image
	// stableBytes never exceeds the size of either image.
	stableBytes int64
	// dirtyPages holds the index of every page that starts below
	// stableBytes and was written since the last sync.
	dirtyPages map[int64]struct{}
}

func (d *fileData) size() int64 { return d.current.sizeBytes }

// unsynced reports whether a crash could change anything.
func (d *fileData) unsynced() bool {
	return len(d.dirtyPages) > 0 ||
		d.stableBytes != d.current.sizeBytes ||
		d.stableBytes != d.durable.sizeBytes
}

// readAt copies current bytes at offset into p and returns how many.
func (d *fileData) readAt(p []byte, offset int64) int {
	return d.current.readAt(p, offset)
}

// writeAt writes p at offset, growing the file with zeros if offset is past
// its end. The caller has checked capacity and fileBytesMax.
func (d *fileData) writeAt(p []byte, offset int64) {
	d.current.writeAt(p, offset, &d.durable)
	// Bytes at or above stableBytes are tracked by stableBytes already.
	if end := offset + int64(len(p)); offset < d.stableBytes {
		d.markDirty(offset, min(end, d.stableBytes))
	}
}

func (d *fileData) markDirty(start, end int64) {
	if d.dirtyPages == nil {
		d.dirtyPages = make(map[int64]struct{})
	}
	for index := start / pageBytes; index*pageBytes < end; index++ {
		d.dirtyPages[index] = struct{}{}
	}
}

// truncate sets the current size; new bytes read as zeros.
func (d *fileData) truncate(size int64) {
	d.current.resize(size, &d.durable)
	// Dirty pages at or above the new stableBytes stay in the map; every
	// reader of the map ignores them because the stable region covers them.
	d.stableBytes = min(d.stableBytes, size)
}

// sync makes durable equal to current by sharing the pages that may
// differ: no bytes are copied. The next write to a shared page copies it.
func (d *fileData) sync() {
	if !d.unsynced() {
		return
	}
	count := len(d.current.pages)
	if count < len(d.durable.pages) {
		clear(d.durable.pages[count:])
	}
	d.durable.pages = slices.Grow(d.durable.pages[:min(count, len(d.durable.pages))], count)[:count]
	d.durable.sizeBytes = d.current.sizeBytes
	// Map order does not matter: each page is assigned independently.
	for index := range d.dirtyPages {
		if index*pageBytes < d.stableBytes && index < int64(count) {
			d.durable.pages[index] = d.current.pages[index]
		}
	}
	// This includes the last page whenever it is partial, which keeps
	// durable's zero tail: stableBytes lies in or before it.
	for index := d.stableBytes / pageBytes; index < int64(count); index++ {
		d.durable.pages[index] = d.current.pages[index]
	}
	clear(d.dirtyPages)
	d.stableBytes = d.current.sizeBytes
}

// dropUnsynced models a failed writeback (an fsync that returned EIO): the
// kernel has given up on the unsynced pages, and what the process reads
// back from now on is the durable image (zeros past its end), as if the
// pages had been evicted. The size and the pages stay unsynced, so a later
// successful Sync persists the lost state — this is the behaviour of Linux
// that made retrying fsync unsafe ("fsyncgate").
func (d *fileData) dropUnsynced() {
	currentBytes := d.size()
	for index := range d.dirtyPages { // Disjoint ranges: order does not matter.
		start := index * pageBytes
		if start < d.stableBytes && start < currentBytes {
			copyRange(&d.current, &d.durable, start, min(start+pageBytes, currentBytes))
		}
	}
	copyRange(&d.current, &d.durable, d.stableBytes, currentBytes)
}

// pageFate is what a crash does to one unsynced page.
type pageFate uint8

const (
	pageKept    pageFate = iota // The page reached the disk whole.
	pageDropped                 // The page never reached the disk.
	pageTorn                    // Some of its sectors reached the disk.
)

// crash replaces both images with what survives a power loss: the durable
// image, resized to a chosen size, with each page in which the images may
// differ kept, dropped or torn. Afterwards current and durable are equal
// (they share every page). Random choices are drawn in a fixed order (size,
// then pages in ascending order) so that a seed replays exactly.
func (d *fileData) crash(keep Keep, rng *rand.Rand) {
	if !d.unsynced() {
		return
	}
	survivingBytes := d.chooseSize(keep, rng)
	pages := d.unsyncedPages(survivingBytes)
	// Past their ends both images read as zeros: the disk holds no data
	// past the durable size, and the process wrote none past the current
	// size (a truncation discarded it).
	d.durable.resize(survivingBytes, &d.current)
	for _, index := range pages {
		fate := pageDropped
		switch keep {
		case KeepAlways:
			fate = pageKept
		case KeepRandom:
			fate = pageFate(rng.IntN(3))
		}
		d.crashPage(index, fate, survivingBytes, rng)
	}
	d.current = image{pages: slices.Clone(d.durable.pages), sizeBytes: survivingBytes}
	clear(d.dirtyPages)
	d.stableBytes = survivingBytes
}

// chooseSize picks the size the file has after the crash: the durable size,
// the current size, or (KeepRandom only) any size between, which models a
// metadata update that persisted part of a run of appends or truncations.
func (d *fileData) chooseSize(keep Keep, rng *rand.Rand) int64 {
	durableBytes, currentBytes := d.durable.sizeBytes, d.current.sizeBytes
	if durableBytes == currentBytes {
		return currentBytes
	}
	switch keep {
	case KeepAlways:
		return currentBytes
	case KeepRandom:
		switch rng.IntN(3) {
		case 0:
			return durableBytes
		case 1:
			return currentBytes
		default:
			low, high := min(durableBytes, currentBytes), max(durableBytes, currentBytes)
			return low + rng.Int64N(high-low+1)
		}
	default:
		return durableBytes
	}
}

// unsyncedPages returns, ascending, the pages below survivingBytes in which
// current and durable may differ.
func (d *fileData) unsyncedPages(survivingBytes int64) []int64 {
	limitBytes := min(survivingBytes, max(d.durable.sizeBytes, d.current.sizeBytes))
	pages := make([]int64, 0, len(d.dirtyPages))
	for index := range d.dirtyPages {
		if start := index * pageBytes; start < d.stableBytes && start < limitBytes {
			pages = append(pages, index)
		}
	}
	slices.Sort(pages) // Map order must not reach the random draws.
	for index := d.stableBytes / pageBytes; index*pageBytes < limitBytes; index++ {
		// The first stable-region page may also be the last dirty page.
		if len(pages) > 0 && pages[len(pages)-1] == index {
			continue
		}
		pages = append(pages, index)
	}
	return pages
}

// crashPage settles one page of durable, which has survivingBytes bytes,
// by taking from current the page or the sectors that reached the disk.
func (d *fileData) crashPage(index int64, fate pageFate, survivingBytes int64, rng *rand.Rand) {
	start := index * pageBytes
	end := min(start+pageBytes, survivingBytes)
	switch fate {
	case pageKept:
		copyRange(&d.durable, &d.current, start, end)
	case pageDropped:
	case pageTorn:
		keptSectors := rng.Uint64() // One bit per sector; sectorsPerPage <= 64.
		for sector := int64(0); sector < sectorsPerPage; sector++ {
			sectorStart := start + sector*sectorBytes
			if sectorStart >= end {
				break
			}
			if keptSectors&(1<<sector) != 0 {
				copyRange(&d.durable, &d.current, sectorStart, min(sectorStart+sectorBytes, end))
			}
		}
	}
}
