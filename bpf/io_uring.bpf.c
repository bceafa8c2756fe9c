// SPDX-License-Identifier: MIT OR GPL-2.0
//
// whoport's look into io_uring instances for sockets no descriptor, mapping or registered
// file read from /proc holds: run only for sockets still ownerless after every other look.
//
//   whoport_ring_requests (task_file): for each io_uring instance in a descriptor table, the
//       socket files of its requests in flight (a pending accept, recv, send, poll...: the
//       requests the kernel keeps in the ring's cancel table, as its fdinfo's PollList counts
//       them without naming their files).
//   whoport_registered_tasks (task): the tasks with a registered ring table that holds a
//       ring (a pass too small to cost anything, so that the next program, whose
//       verification costs about 0.1 s, is loaded only where it has work).
//   whoport_registered_rings (task): for each ring a task registered with
//       IORING_REGISTER_RING_FDS (reachable through task->io_uring->registered_rings even
//       after the ring's own descriptor is closed), the socket files among its registered
//       files and its requests in flight.
//
// Records (native endian): { u32 tgid; u32 kind; u64 value; }
//   kind REQUEST:    value is the inode of a socket a request in flight holds
//   kind REGISTERED: value is the inode of a socket registered in a ring that only the
//                    task's registered ring table may reach
//   kind TRUNCATED:  the walk of this task's rings stopped at its bound; value 0
//   kind HAS_REGISTERED: the task's registered ring table holds a ring; value 0
//   kind NESTED:     a request in flight holds another io_uring instance (a poll on its
//                    descriptor), whose own files and requests are not walked; value 0
//
// The walks are bounded (MAX_STEPS requests and hash buckets, MAX_REGISTERED_STEPS for a
// registered ring, MAX_FILES registered files, the first registered ring of a task: bounds
// the kernel verifies in about 0.1 s of CPU); what lies beyond is reported as TRUNCATED, and user space
// then says what remains possible.
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

struct inode {
	__u16 i_mode;
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

struct io_kiocb {
	struct file *file;
	struct hlist_node hash_node;
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

struct io_uring_task {
	struct file *registered_rings[16];
} CORE;

struct task_struct {
	int tgid;
	struct io_uring_task *io_uring;
} CORE;

struct seq_file;

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

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define REQUEST 1
#define REGISTERED 2
#define TRUNCATED 3
#define NESTED 4
#define HAS_REGISTERED 5
#define MAX_STEPS 512
#define MAX_REGISTERED_STEPS 256
#define MAX_FILES 128
#define REGISTERED_RINGS 16
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

// The inode of a socket file, or 0.
INLINE __u64 socket_inode(struct file *f)
{
	struct inode *inode = 0;
	__u16 mode = 0;
	unsigned long ino = 0;

	if (!f)
		return 0;
	bpf_probe_read_kernel(&inode, sizeof(inode), &f->f_inode);
	if (!inode)
		return 0;
	bpf_probe_read_kernel(&mode, sizeof(mode), &inode->i_mode);
	if ((mode & S_IFMT) != S_IFSOCK)
		return 0;
	bpf_probe_read_kernel(&ino, sizeof(ino), &inode->i_ino);
	return ino;
}

// Is this file an io_uring instance (an anonymous inode file named "[io_uring]")?
INLINE int is_ring(struct file *file)
{
	struct dentry *dentry = 0;
	struct qstr name = {};
	const char ring[RING_NAME_LEN] = RING_NAME;
	__u64 head = 0, want_head;
	__u16 tail = 0, want_tail;

	bpf_probe_read_kernel(&dentry, sizeof(dentry), &file->f_path.dentry);
	if (!dentry)
		return 0;
	bpf_probe_read_kernel(&name.len, sizeof(name.len), &dentry->d_name.len);
	bpf_probe_read_kernel(&name.name, sizeof(name.name), &dentry->d_name.name);
	if (name.len != RING_NAME_LEN || !name.name)
		return 0;
	// Compared as two numbers, not byte by byte: the verifier walks every loop.
	if (bpf_probe_read_kernel(&head, sizeof(head), name.name) ||
	    bpf_probe_read_kernel(&tail, sizeof(tail), name.name + sizeof(head)))
		return 0;
	__builtin_memcpy(&want_head, ring, sizeof(want_head));
	__builtin_memcpy(&want_tail, ring + sizeof(want_head), sizeof(want_tail));
	return head == want_head && tail == want_tail;
}

// Where one ring's walk stands: its registered files, then its cancel table's buckets.
struct walk {
	struct io_ring_ctx *ring;
	struct io_rsrc_node **nodes;
	__u32 files;
	struct io_hash_bucket *hbs;
	__u32 buckets;
	__u32 bucket;
	struct hlist_node *node;
};

// The socket files of a ring's requests in flight, bucket by bucket of its cancel table.
// 0 when walked to the end, 1 when stopped at the bound.
INLINE int requests(struct seq_file *seq, __u32 tgid, struct walk *w, const int steps)
{
	unsigned int bits = 0;

	bpf_probe_read_kernel(&w->hbs, sizeof(w->hbs), &w->ring->cancel_table.hbs);
	bpf_probe_read_kernel(&bits, sizeof(bits), &w->ring->cancel_table.hash_bits);
	if (!w->hbs || bits > 16)
		return 0;
	w->buckets = 1u << bits;
	w->bucket = 0;
	w->node = 0;
	bpf_probe_read_kernel(&w->node, sizeof(w->node), &w->hbs->list.first);
	__u64 size = __builtin_preserve_type_info(*w->hbs, TYPE_SIZE);
	__u64 off = __builtin_preserve_field_info(((struct io_kiocb *)0)->hash_node,
						  FIELD_BYTE_OFFSET);
	for (int i = 0; i < steps; i++) {
		if (!w->node) {
			w->bucket++;
			if (w->bucket >= w->buckets)
				return 0;
			struct io_hash_bucket *b = (void *)((char *)w->hbs + (__u64)w->bucket * size);
			bpf_probe_read_kernel(&w->node, sizeof(w->node), &b->list.first);
			continue;
		}
		struct io_kiocb *req = (void *)((char *)w->node - off);
		struct file *f = 0;
		bpf_probe_read_kernel(&f, sizeof(f), &req->file);
		__u64 ino = socket_inode(f);
		if (ino)
			emit(seq, tgid, REQUEST, ino);
		else if (f && is_ring(f))
			emit(seq, tgid, NESTED, 0);
		struct hlist_node *next = 0;
		bpf_probe_read_kernel(&next, sizeof(next), &w->node->next);
		w->node = next;
	}
	return 1;
}

// The socket files among a ring's registered files. 0 when walked to the end, 1 when
// stopped at the bound.
INLINE int files(struct seq_file *seq, __u32 tgid, struct walk *w)
{
	bpf_probe_read_kernel(&w->files, sizeof(w->files), &w->ring->file_table.data.nr);
	bpf_probe_read_kernel(&w->nodes, sizeof(w->nodes), &w->ring->file_table.data.nodes);
	if (!w->nodes)
		return 0;
	for (__u32 i = 0; i < MAX_FILES; i++) {
		if (i >= w->files)
			return 0;
		struct io_rsrc_node *node = 0;
		unsigned long ptr = 0;
		bpf_probe_read_kernel(&node, sizeof(node), &w->nodes[i]);
		if (!node)
			continue;
		bpf_probe_read_kernel(&ptr, sizeof(ptr), &node->file_ptr);
		__u64 ino = socket_inode((struct file *)(ptr & FFS_MASK));
		if (ino)
			emit(seq, tgid, REGISTERED, ino);
	}
	return w->files > MAX_FILES;
}

SEC("iter/task_file")
int whoport_ring_requests(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct walk w = {};

	if (!task || !file || !is_ring(file))
		return 0;
	__u32 tgid = task->tgid;
	bpf_probe_read_kernel(&w.ring, sizeof(w.ring), &file->private_data);
	if (w.ring && requests(seq, tgid, &w, MAX_STEPS))
		emit(seq, tgid, TRUNCATED, 0);
	return 0;
}

SEC("iter/task")
int whoport_registered_tasks(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *rings[REGISTERED_RINGS] = {};

	if (!task)
		return 0;
	struct io_uring_task *tctx = task->io_uring;
	if (!tctx)
		return 0;
	bpf_probe_read_kernel(rings, sizeof(rings), &tctx->registered_rings);
	for (int slot = 0; slot < REGISTERED_RINGS; slot++) {
		if (rings[slot]) {
			emit(ctx->meta->seq, task->tgid, HAS_REGISTERED, 0);
			return 0;
		}
	}
	return 0;
}

// The first ring of the task's registered ring table is walked; that there are more is
// reported as TRUNCATED (a program walking all sixteen would not pass the verifier).
SEC("iter/task")
int whoport_registered_rings(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct walk w = {};
	struct file *rings[REGISTERED_RINGS] = {};
	struct file *ring = 0;
	int more = 0;

	if (!task)
		return 0;
	struct io_uring_task *tctx = task->io_uring;
	if (!tctx)
		return 0;
	__u32 tgid = task->tgid;
	bpf_probe_read_kernel(rings, sizeof(rings), &tctx->registered_rings);
	for (int slot = 0; slot < REGISTERED_RINGS; slot++) {
		if (!rings[slot])
			continue;
		if (ring)
			more = 1;
		else
			ring = rings[slot];
	}
	if (!ring)
		return 0;
	bpf_probe_read_kernel(&w.ring, sizeof(w.ring), &ring->private_data);
	if (!w.ring)
		return 0;
	more |= files(seq, tgid, &w);
	more |= requests(seq, tgid, &w, MAX_REGISTERED_STEPS);
	if (more)
		emit(seq, tgid, TRUNCATED, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
