// Package crashfs is a FUSE filesystem, held in memory, that models what a
// power cut leaves on disk, for tests that cut the power under kt.
//
// Every file and directory has two states: the current one, which reads
// and writes see, and the durable one, which survives a cut. A mount
// serves the current state; PowerCut, run while nothing is mounted,
// replaces the current state with what survives, and the next Mount serves
// that, as a machine does after it boots again.
//
// # What survives
//
// File data follows POSIX: fsync(2) and fdatasync(2) make a file's data
// and size durable (fdatasync flushes the size too, as Linux does). What
// happens to data written since then depends on the Data rule of the cut:
//
//   - DataDrop: unsynced writes, size changes and truncations are gone; the
//     file is as it was at its last fsync (empty if it never had one).
//   - DataZeroPages: the file keeps its current size, but each 4 KiB page
//     written since the last fsync holds, at random, either what was written
//     (the kernel wrote the page back) or what the page held at the last
//     fsync, which is zeros for a page the file did not have then. This is
//     the XFS-like outcome: the size was logged, some data blocks were not
//     written, in no particular order.
//
// Names (create, mkdir, rename, link, unlink, rmdir, symlink) follow the
// Names rule of the cut:
//
//   - NamesPOSIX, the letter of POSIX: a name is durable once its directory
//     is fsync'd. A directory that is not durably named in its parent is
//     gone with everything in it; a file whose durable names are all gone is
//     gone; a name renamed over comes back as it was.
//   - NamesJournal, as ext4 and XFS behave: name changes are journaled in
//     order, and any fsync or fdatasync of any file or directory commits
//     every name change made before it.
//
// File modes, owners and times are kept as they are at the cut. Hard links
// and symlinks are supported; extended attributes and locks are not
// (locks are local to the kernel).
//
// # Cut control
//
// Every mutating request (see OpKind) is counted by kind and by path
// pattern (the path with each run of digits replaced by "*"), so that a
// point in a sequence of operations has a stable name such as
// "fsync #3 of kt/ledger/segments/*.seg". A Rule freezes the filesystem at
// the operation it names; Freeze freezes it at once (a cut at a random
// moment). A frozen filesystem applies no further mutation: the request
// that hit the freeze, and every mutating request after it, blocks until
// ReleaseBlocked, then fails with EIO. Reads go on. A test therefore
// freezes, kills the processes using the mount, releases, unmounts, and
// calls PowerCut.
//
// Mounting needs root and /dev/fuse; the mount is made with mount(2)
// directly (no fusermount).
package crashfs
