// SPDX-License-Identifier: MIT OR GPL-2.0
//
// whoport's look into io_uring instances for sockets no descriptor, mapping or registered
// file read from /proc holds: run only for sockets still ownerless after every other look.
//
//   whoport_ring_requests (task_file): for each io_uring instance in a descriptor table, the
//       socket files of its requests in flight (a pending accept, recv, send, poll...: the
//       requests the kernel keeps in the ring's cancel table, as its fdinfo's PollList counts
//       them without naming their files).
//   whoport_table_rings (task_file): the same, with each ring's registered files too (for
//       rings whose fdinfo user space could not read: another user's).
//   whoport_registered_tasks (task): the tasks with a registered ring table that holds a
//       ring (a pass too small to cost anything, so that the next program is loaded only
//       where it has work), and the tasks with io_uring instances in use at all (rings that
//       hold each other through requests in flight, their descriptors closed and unmapped,
//       are reachable from nothing else); and for each io-wq worker (an iou-wrk thread),
//       the socket file of the request it is running (a request that blocks there without
//       arming a poll, a splice into the socket say, is in no cancel table).
//   whoport_used_rings (task): every ring a task's io_uring context lists (task->io_uring->xa:
//       the rings it made or submitted to), walked as the others are, so that rings reachable
//       only from other rings (a poll in flight on a ring; rings holding each other through
//       such requests, every descriptor closed and nothing mapped) are read too.
//   whoport_registered_rings (task): for every ring a task registered with
//       IORING_REGISTER_RING_FDS (reachable through task->io_uring->registered_rings even
//       after the ring's own descriptor is closed), the socket files among its registered
//       files and its requests in flight.
//   whoport_mapped_rings (task): for a ring user space found mapped by a process
//       (anon_inode:[io_uring] in its memory map) and held by no descriptor table (kept alive
//       only by its mapping), read once per such ring: its registered files and requests in
//       flight, from the mapping's file (bpf_find_vma, which never waits for a process's
//       memory-map lock).
//
// Records (native endian): { u32 tgid; u32 kind; u64 value; }
//   kind REQUEST:    value is the inode of a socket a request in flight holds
//   kind REGISTERED: value is the inode of a socket registered in a ring that no descriptor
//                    table may reach (a registered ring table's, or a mapped ring's), or
//                    in one whose fdinfo user space could not read (whoport_table_rings)
//   kind TRUNCATED:  the walk of this task's rings stopped at its bound; value 0
//   kind HAS_REGISTERED: the task's registered ring table holds a ring; value 0
//   kind NESTED:     a request in flight holds another io_uring instance (a poll on its
//                    descriptor), whose own files and requests are not walked; value 0
//   kind BUSY:       the process's memory-map lock was held: the ring mapped at value (an
//                    address) was not looked at
//   kind GONE:       no ring is mapped at value (an address) any more
//   kind USES:       the task has io_uring instances in use (its io_uring context lists a
//                    ring still alive: one it made, or submitted to); value 0
//   kind WALKED:     every ring the task's io_uring context lists was walked to the end
//                    (whoport_used_rings); value 0
//
// The walks are bounded: MAX_STEPS per task (a step is one registered file, one request, one
// hash bucket, one ring or one slot of the io_uring context's xarray), in one bpf_loop (Linux 5.17+), so the verifier checks one step
// instead of every turn; what lies beyond is reported as TRUNCATED, and user space then says
// what remains possible.
//
// CO-RE: only the fields read here are declared, with preserve_access_index, so the loader
// relocates them against the running kernel's BTF (the layout of Linux 6.13 and later: a
// kernel with another layout refuses to load it, and whoport says it could not look). No
// vmlinux.h is generated or committed. Rebuild the committed object with bpf/build.sh.

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define CORE __attribute__((preserve_access_index))
#define INLINE static inline __attribute__((always_inline))

struct super_block {
	unsigned long s_magic;
} CORE;

struct inode {
	__u16 i_mode;
	struct super_block *i_sb;
	unsigned long i_ino;
} CORE;

// On little and big endian alike the name's length is a u32 inside an anonymous union.
struct qstr {
	__u32 len;
	const unsigned char *name;
} CORE;

struct dentry {
	struct qstr d_name;
} CORE;

struct path {
	struct dentry *dentry;
} CORE;

struct file {
	struct path f_path;
	struct inode *f_inode;
	void *private_data;
} CORE;

struct hlist_node {
	struct hlist_node *next;
} CORE;

struct hlist_head {
	struct hlist_node *first;
} CORE;

struct io_hash_bucket {
	struct hlist_head list;
} CORE;

struct io_hash_table {
	struct io_hash_bucket *hbs;
	unsigned int hash_bits;
} CORE;

struct io_wq_work {
	int cancel_seq;
} CORE;

struct io_worker {
	struct io_wq_work *cur_work;
} CORE;

struct io_kiocb {
	struct file *file;
	struct hlist_node hash_node;
	struct io_wq_work work;
} CORE;

struct io_rsrc_node {
	unsigned long file_ptr;
} CORE;

struct io_rsrc_data {
	unsigned int nr;
	struct io_rsrc_node **nodes;
} CORE;

struct io_file_table {
	struct io_rsrc_data data;
} CORE;

struct io_ring_ctx {
	struct io_file_table file_table;
	struct io_hash_table cancel_table;
} CORE;

struct xarray {
	void *xa_head;
} CORE;

struct xa_node {
	unsigned char shift;
	unsigned char offset;
	struct xa_node *parent;
	void *slots[64];
} CORE;

struct io_tctx_node {
	struct io_ring_ctx *ctx;
} CORE;

struct io_uring_task {
	struct xarray xa;
	struct file *registered_rings[16];
} CORE;

struct vm_area_struct {
	struct file *vm_file;
} CORE;

struct task_struct {
	unsigned int flags;
	int tgid;
	struct io_uring_task *io_uring;
	void *worker_private;
} CORE;

// The iterator's own file (an anonymous inode file, "bpf_iter").
struct seq_file {
	struct file *file;
} CORE;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} CORE;

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} CORE;

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
} CORE;

// long bpf_seq_write(struct seq_file *m, const void *data, u32 len), helper 127.
static long (*bpf_seq_write)(struct seq_file *m, const void *data, __u32 len) = (void *)127;
// long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr), helper 113.
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;
// long bpf_find_vma(struct task_struct *task, u64 addr, void *callback_fn, void *callback_ctx,
// u64 flags), helper 180 (Linux 5.17+).
static long (*bpf_find_vma)(struct task_struct *task, __u64 addr, void *callback_fn,
			    void *callback_ctx, __u64 flags) = (void *)180;
// long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags), helper 181.
static long (*bpf_loop)(__u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags) = (void *)181;

#define S_IFMT 0170000
#define S_IFSOCK 0140000
// The magic number of sockfs, the filesystem of every socket's inode (include/uapi/linux/magic.h).
#define SOCKFS_MAGIC 0x534F434Bul
#define EBUSY 16
#define REQUEST 1
#define REGISTERED 2
#define TRUNCATED 3
#define NESTED 4
#define HAS_REGISTERED 5
#define BUSY 6
#define GONE 7
#define USES 8
#define WALKED 9
// task->flags of an io-wq worker (include/linux/sched.h).
#define PF_IO_WORKER 0x00000010
// An xarray node's slots, and the lowest address of a node entry (include/linux/xarray.h).
#define XA_CHUNK_SIZE 64
#define XA_NODE_MIN 4096
// Steps of one task's walk (a registered file, a request, a bucket or a ring each).
#define MAX_STEPS 8192
// A registered ring table has sixteen slots.
#define MAX_RINGS 16
// The low bits of a registered file's pointer are flags (FFS_NOWAIT, FFS_ISREG).
#define FFS_MASK (~3UL)
// An io_uring instance is an anonymous inode file named "[io_uring]".
#define RING_NAME "[io_uring]"
#define RING_NAME_LEN 10
// __builtin_preserve_field_info / __builtin_preserve_type_info kinds.
#define FIELD_BYTE_OFFSET 0
#define TYPE_SIZE 1

struct record {
	__u32 tgid;
	__u32 kind;
	__u64 value;
};

INLINE void emit(struct seq_file *seq, __u32 tgid, __u32 kind, __u64 value)
{
	struct record r = { .tgid = tgid, .kind = kind, .value = value };
	bpf_seq_write(seq, &r, sizeof(r));
}

// The inode of a socket file, or 0: a socket's own inode, of sockfs (a filesystem's socket
// node has a socket's mode too, and an inode number its maker may choose: see is_socket in
// owners.bpf.c).
INLINE __u64 socket_inode(struct file *f)
{
	struct inode *inode = 0;
	struct super_block *sb = 0;
	__u16 mode = 0;
	unsigned long magic = 0;
	unsigned long ino = 0;

	if (!f)
		return 0;
	bpf_probe_read_kernel(&inode, sizeof(inode), &f->f_inode);
	if (!inode)
		return 0;
	bpf_probe_read_kernel(&mode, sizeof(mode), &inode->i_mode);
	bpf_probe_read_kernel(&sb, sizeof(sb), &inode->i_sb);
	if (sb)
		bpf_probe_read_kernel(&magic, sizeof(magic), &sb->s_magic);
	if ((mode & S_IFMT) != S_IFSOCK || magic != SOCKFS_MAGIC)
		return 0;
	bpf_probe_read_kernel(&ino, sizeof(ino), &inode->i_ino);
	return ino;
}

// A task's io_uring context (NULL: none), read with a probe read: a direct load of a pointer
// from the task (a pointer the kernel trusts) makes the verifier look up by name, in the
// whole of the kernel's BTF, whether the pointer loaded may be trusted too, several times at
// each load it checks.
INLINE struct io_uring_task *io_uring_of(struct task_struct *task)
{
	struct io_uring_task *tctx = 0;

	bpf_probe_read_kernel(&tctx, sizeof(tctx), &task->io_uring);
	return tctx;
}

// Is this dentry name (`len` bytes at `name`) the one of an io_uring instance's file (an
// anonymous inode file named "[io_uring]")?
INLINE int ring_named(__u32 len, const unsigned char *name)
{
	const char ring[RING_NAME_LEN] = RING_NAME;
	__u64 head = 0, want_head;
	__u16 tail = 0, want_tail;

	if (len != RING_NAME_LEN || !name)
		return 0;
	// Compared as two numbers, not byte by byte: the verifier walks every loop.
	if (bpf_probe_read_kernel(&head, sizeof(head), name) ||
	    bpf_probe_read_kernel(&tail, sizeof(tail), name + sizeof(head)))
		return 0;
	__builtin_memcpy(&want_head, ring, sizeof(want_head));
	__builtin_memcpy(&want_tail, ring + sizeof(want_head), sizeof(want_tail));
	return head == want_head && tail == want_tail;
}

// The superblock of anonymous inode files (the iterator's own file is one), as a number; 0
// when it cannot be read. A name says a file is an io_uring instance only there, where only
// the kernel names files: a file anywhere else may have any name.
INLINE __u64 anon_sb(struct seq_file *seq)
{
	struct file *own = 0;
	struct inode *inode = 0;
	__u64 sb = 0;

	bpf_probe_read_kernel(&own, sizeof(own), &seq->file);
	if (own)
		bpf_probe_read_kernel(&inode, sizeof(inode), &own->f_inode);
	if (inode)
		bpf_probe_read_kernel(&sb, sizeof(sb), &inode->i_sb);
	return sb;
}

// Is this file on the superblock `sb` (anon_sb's)?
INLINE int on_sb(struct file *file, __u64 sb)
{
	struct inode *inode = 0;
	__u64 its = 0;

	bpf_probe_read_kernel(&inode, sizeof(inode), &file->f_inode);
	if (inode)
		bpf_probe_read_kernel(&its, sizeof(its), &inode->i_sb);
	return sb && its == sb;
}

// Is this file an io_uring instance? (A file read with probe reads: its pointers too.) `sb`:
// anon_sb's.
INLINE int is_ring(struct file *file, __u64 sb)
{
	struct dentry *dentry = 0;
	struct qstr name = {};

	bpf_probe_read_kernel(&dentry, sizeof(dentry), &file->f_path.dentry);
	if (!dentry)
		return 0;
	bpf_probe_read_kernel(&name.len, sizeof(name.len), &dentry->d_name.len);
	bpf_probe_read_kernel(&name.name, sizeof(name.name), &dentry->d_name.name);
	return ring_named(name.len, name.name) && on_sb(file, sb);
}

// is_ring for the file the task_file iterator hands, which runs for every descriptor of the
// machine: its dentry and name followed with plain loads, not a probe read each. That file is
// not a pointer the kernel trusts (the iterator's arguments are PTR_TO_BTF_ID_OR_NULL, on
// every kernel since Linux 5.8), so the verifier looks nothing up by name for these loads, and
// it makes each of them a load that cannot fault (BPF_PROBE_MEM: a fault reads 0), as safe as
// a probe read on every kernel the program loads on.
INLINE int is_ring_here(struct seq_file *seq, struct file *file)
{
	struct dentry *dentry = file->f_path.dentry;

	if (!dentry)
		return 0;
	return ring_named(dentry->d_name.len, dentry->d_name.name) && on_sb(file, anon_sb(seq));
}

// Where the walk of a task's rings stands: ring by ring, its registered files (unless only
// its requests are wanted), then its cancel table's buckets. One bpf_loop step looks at one
// registered file, one request, or moves to the next bucket or ring, so the verifier checks
// one step instead of every turn, and a task's rings are walked together within MAX_STEPS.
struct walk {
	struct seq_file *seq;
	__u32 tgid;
	__u32 phase;
	__u32 ring;
	__u32 rings;
	__u32 with_files;
	__u32 done;
	__u32 file;
	__u32 files;
	__u32 bucket;
	__u32 buckets;
	__u64 bucket_size;
	__u64 node_offset;
	__u32 from_xa;
	__u32 slot;
	struct xa_node *xa;
	struct io_ring_ctx *ctx;
	struct io_rsrc_node **nodes;
	struct io_hash_bucket *hbs;
	struct hlist_node *node;
	struct file *of[MAX_RINGS];
};

#define START 0
#define FILES 1
#define BUCKETS 2
#define XA 3

// Moves on to the next ring (or ends the walk after the last one): back to the task's
// io_uring context when walking that.
INLINE void next_ring(struct walk *w)
{
	w->ring++;
	w->phase = w->from_xa ? XA : START;
}

// Starts the walk of the cancel table of the current ring.
INLINE void start_buckets(struct walk *w)
{
	unsigned int bits = 0;

	w->hbs = 0;
	w->node = 0;
	w->bucket = 0;
	bpf_probe_read_kernel(&w->hbs, sizeof(w->hbs), &w->ctx->cancel_table.hbs);
	bpf_probe_read_kernel(&bits, sizeof(bits), &w->ctx->cancel_table.hash_bits);
	if (!w->hbs || bits > 16) {
		next_ring(w);
		return;
	}
	w->buckets = 1u << bits;
	bpf_probe_read_kernel(&w->node, sizeof(w->node), &w->hbs->list.first);
	w->phase = BUCKETS;
}

// Starts the walk of the ring w->ctx: its registered files (when wanted), then its requests.
INLINE void start_ring(struct walk *w)
{
	if (!w->ctx) {
		next_ring(w);
		return;
	}
	w->file = 0;
	w->files = 0;
	w->nodes = 0;
	if (w->with_files) {
		bpf_probe_read_kernel(&w->files, sizeof(w->files), &w->ctx->file_table.data.nr);
		bpf_probe_read_kernel(&w->nodes, sizeof(w->nodes), &w->ctx->file_table.data.nodes);
	}
	if (w->nodes && w->files)
		w->phase = FILES;
	else
		start_buckets(w);
}

// Is this xarray entry a node of the tree (an internal entry above the first page)?
INLINE int xa_is_node(unsigned long entry)
{
	return (entry & 3) == 2 && entry > XA_NODE_MIN;
}

// One step through the task's io_uring context (an xarray of io_tctx_node, one per ring,
// keyed by the ring's address): one slot of a node, or up to its parent once its slots are
// passed (a node knows its parent and its offset there, so no stack is kept). A ring found
// is walked, next_ring coming back here; 1 ends the walk once the root's slots are passed.
INLINE long xa_step(struct walk *w)
{
	struct xa_node *node = w->xa;
	if (!node) {
		w->done = 1;
		return 1;
	}
	if (w->slot >= XA_CHUNK_SIZE) {
		struct xa_node *parent = 0;
		unsigned char offset = 0;
		bpf_probe_read_kernel(&parent, sizeof(parent), &node->parent);
		bpf_probe_read_kernel(&offset, sizeof(offset), &node->offset);
		w->xa = parent;
		w->slot = (__u32)offset + 1;
		return 0;
	}
	unsigned long entry = 0;
	unsigned char shift = 0;
	bpf_probe_read_kernel(&entry, sizeof(entry), &node->slots[w->slot & (XA_CHUNK_SIZE - 1)]);
	bpf_probe_read_kernel(&shift, sizeof(shift), &node->shift);
	w->slot++;
	if (!entry)
		return 0;
	if (shift && xa_is_node(entry)) {
		w->xa = (struct xa_node *)(entry - 2);
		w->slot = 0;
		return 0;
	}
	// Any other internal entry (a sibling, a retry mark) is no ring.
	if ((entry & 3) == 2)
		return 0;
	w->ctx = 0;
	bpf_probe_read_kernel(&w->ctx, sizeof(w->ctx), &((struct io_tctx_node *)entry)->ctx);
	start_ring(w);
	return 0;
}

// One step of the walk; 1 ends it (every ring walked).
static long step(__u32 i, struct walk *w)
{
	if (w->phase == START) {
		if (w->ring >= w->rings || w->ring >= MAX_RINGS) {
			w->done = 1;
			return 1;
		}
		struct file *f = w->of[w->ring & (MAX_RINGS - 1)];
		w->ctx = 0;
		if (f)
			bpf_probe_read_kernel(&w->ctx, sizeof(w->ctx), &f->private_data);
		start_ring(w);
		return 0;
	}
	if (w->phase == XA)
		return xa_step(w);
	if (w->phase == FILES) {
		if (w->file >= w->files) {
			start_buckets(w);
			return 0;
		}
		struct io_rsrc_node *node = 0;
		unsigned long ptr = 0;
		bpf_probe_read_kernel(&node, sizeof(node), &w->nodes[w->file]);
		w->file++;
		if (!node)
			return 0;
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &node->file_ptr);
		__u64 ino = socket_inode((struct file *)(ptr & FFS_MASK));
		if (ino)
			emit(w->seq, w->tgid, REGISTERED, ino);
		return 0;
	}
	if (!w->node) {
		w->bucket++;
		if (w->bucket >= w->buckets) {
			next_ring(w);
			return 0;
		}
		struct io_hash_bucket *b = (void *)((char *)w->hbs + (__u64)w->bucket * w->bucket_size);
		bpf_probe_read_kernel(&w->node, sizeof(w->node), &b->list.first);
		return 0;
	}
	struct io_kiocb *req = (void *)((char *)w->node - w->node_offset);
	struct file *f = 0;
	bpf_probe_read_kernel(&f, sizeof(f), &req->file);
	__u64 ino = socket_inode(f);
	if (ino)
		emit(w->seq, w->tgid, REQUEST, ino);
	else if (f && !w->from_xa && is_ring(f, anon_sb(w->seq)))
		emit(w->seq, w->tgid, NESTED, 0);
	struct hlist_node *next = 0;
	bpf_probe_read_kernel(&next, sizeof(next), &w->node->next);
	w->node = next;
	return 0;
}

// Always 0 (see walk_rings); in .data, apart from the .bss that user space writes.
__u32 first_ring SEC(".data") = 0;

// Walks the rings gathered in w (w->rings of them), reporting TRUNCATED when the steps ran out.
INLINE void walk_rings(struct walk *w)
{
	w->bucket_size = __builtin_preserve_type_info(*w->hbs, TYPE_SIZE);
	w->node_offset = __builtin_preserve_field_info(((struct io_kiocb *)0)->hash_node,
						       FIELD_BYTE_OFFSET);
	w->phase = w->from_xa ? XA : START;
	// 0, read from a global so that the verifier does not know it: with a known ring counter
	// it checks the step for each of the sixteen rings of a registered ring table apart
	// (seconds of CPU), with an unknown one once.
	w->ring = first_ring;
	w->done = 0;
	bpf_loop(MAX_STEPS, step, w, 0);
	if (!w->done)
		emit(w->seq, w->tgid, TRUNCATED, 0);
	else if (w->from_xa)
		emit(w->seq, w->tgid, WALKED, 0);
}

// The ring a descriptor table holds (the iterator's file, when it is one), walked: its
// requests in flight, and its registered files too when with_files.
INLINE int table_ring(struct bpf_iter__task_file *ctx, __u32 with_files)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct walk w = {};

	if (!task || !file || !is_ring_here(ctx->meta->seq, file))
		return 0;
	w.seq = ctx->meta->seq;
	w.tgid = task->tgid;
	w.of[0] = file;
	w.rings = 1;
	w.with_files = with_files;
	walk_rings(&w);
	return 0;
}

// The requests in flight of the rings in descriptor tables (their registered files are read
// from their fdinfo).
SEC("iter/task_file")
int whoport_ring_requests(struct bpf_iter__task_file *ctx)
{
	return table_ring(ctx, 0);
}

// The same walk of the rings in descriptor tables with their registered files too, for where
// user space could not read some ring's fdinfo (another user's process): run instead of
// whoport_ring_requests then.
SEC("iter/task_file")
int whoport_table_rings(struct bpf_iter__task_file *ctx)
{
	return table_ring(ctx, 1);
}

// The socket file of the request an io-wq worker is running (its io_worker's cur_work, the
// work item inside the request), reported as a request in flight of the worker's process: a
// request the worker blocks in without arming a poll is in no ring's cancel table.
INLINE void worker_request(struct seq_file *seq, struct task_struct *task)
{
	struct io_worker *worker = 0;
	struct io_wq_work *work = 0;
	struct file *f = 0;

	bpf_probe_read_kernel(&worker, sizeof(worker), &task->worker_private);
	if (!worker)
		return;
	bpf_probe_read_kernel(&work, sizeof(work), &worker->cur_work);
	if (!work)
		return;
	__u64 offset = __builtin_preserve_field_info(((struct io_kiocb *)0)->work, FIELD_BYTE_OFFSET);
	struct io_kiocb *req = (void *)((char *)work - offset);
	bpf_probe_read_kernel(&f, sizeof(f), &req->file);
	__u64 ino = socket_inode(f);
	if (ino)
		emit(seq, task->tgid, REQUEST, ino);
}

SEC("iter/task")
int whoport_registered_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *rings[MAX_RINGS] = {};

	if (!task)
		return 0;
	if (task->flags & PF_IO_WORKER)
		worker_request(ctx->meta->seq, task);
	struct io_uring_task *tctx = io_uring_of(task);
	if (!tctx)
		return 0;
	// One record per task with rings in use (its context's xarray of the rings it used).
	void *xa_head = 0;
	bpf_probe_read_kernel(&xa_head, sizeof(xa_head), &tctx->xa.xa_head);
	if (xa_head)
		emit(ctx->meta->seq, task->tgid, USES, 0);
	bpf_probe_read_kernel(rings, sizeof(rings), &tctx->registered_rings);
	for (int slot = 0; slot < MAX_RINGS; slot++) {
		if (rings[slot]) {
			emit(ctx->meta->seq, task->tgid, HAS_REGISTERED, 0);
			return 0;
		}
	}
	return 0;
}

// Every ring of the task's registered ring table (sixteen slots), walked together.
SEC("iter/task")
int whoport_registered_rings(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct walk w = {};

	if (!task)
		return 0;
	struct io_uring_task *tctx = io_uring_of(task);
	if (!tctx)
		return 0;
	// Every slot, the empty ones passed over in one step each.
	bpf_probe_read_kernel(w.of, sizeof(w.of), &tctx->registered_rings);
	w.rings = MAX_RINGS;
	w.seq = ctx->meta->seq;
	w.tgid = task->tgid;
	w.with_files = 1;
	walk_rings(&w);
	return 0;
}

// Every ring the task's io_uring context lists (the rings it made or submitted to, alive),
// walked from the context's xarray: rings that only other rings reach are read from here.
SEC("iter/task")
int whoport_used_rings(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct walk w = {};
	unsigned long head = 0;

	if (!task)
		return 0;
	struct io_uring_task *tctx = io_uring_of(task);
	if (!tctx)
		return 0;
	bpf_probe_read_kernel(&head, sizeof(head), &tctx->xa.xa_head);
	// Keyed by ring address, a context's rings are always below a node; anything else is
	// not walked (and not reported as walked).
	if (!xa_is_node(head))
		return 0;
	w.xa = (struct xa_node *)(head - 2);
	w.from_xa = 1;
	w.seq = ctx->meta->seq;
	w.tgid = task->tgid;
	w.with_files = 1;
	walk_rings(&w);
	return 0;
}

// The io_uring mapping to look at, written by user space before each read of
// whoport_mapped_rings: a process (thread group id) and an address inside one of its mappings
// of a ring, as /proc/PID/maps or the task_vma iterator showed it; `looked` is set once one
// of the process's threads looked (its threads share the memory map).
struct target {
	__u32 tgid;
	__u32 looked;
	__u64 address;
};

struct target target = {};

// What bpf_find_vma's callback found: the file the mapping is of.
struct found_vma {
	struct file *file;
};

static long vma_file(struct task_struct *task, struct vm_area_struct *vma, struct found_vma *found)
{
	bpf_probe_read_kernel(&found->file, sizeof(found->file), &vma->vm_file);
	return 0;
}

// The ring the target process maps at the target address (a ring kept alive by its mapping
// after its descriptor was closed has no fdinfo to read): its registered files and requests
// in flight. The mapping is found with bpf_find_vma, which only tries the process's
// memory-map lock: while another holds it (a process stuck on a filesystem that does not
// answer), BUSY is reported instead of waiting.
SEC("iter/task")
int whoport_mapped_rings(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct found_vma found = {};
	struct walk w = {};

	if (!task || task->tgid != target.tgid || target.looked)
		return 0;
	__u32 tgid = task->tgid;
	long err = bpf_find_vma(task, target.address, vma_file, &found, 0);
	if (err == -EBUSY) {
		emit(ctx->meta->seq, tgid, BUSY, target.address);
		return 0;
	}
	target.looked = 1;
	if (err || !found.file || !is_ring(found.file, anon_sb(ctx->meta->seq))) {
		emit(ctx->meta->seq, tgid, GONE, target.address);
		return 0;
	}
	w.seq = ctx->meta->seq;
	w.tgid = tgid;
	w.of[0] = found.file;
	w.rings = 1;
	w.with_files = 1;
	walk_rings(&w);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
