// SPDX-License-Identifier: MIT OR GPL-2.0
//
// whoport's look at descriptors in transit: a unix-socket iterator that walks each unix
// socket's receive queue and writes one 16-byte record per socket file carried in a message
// not yet received (SCM_RIGHTS), so that user space can say "in transit to the holder of
// that unix socket" instead of guessing.
//
// Records (native endian): { u64 receiver; u64 carried; }
//   receiver: inode of the unix socket whose receive queue holds the message (0 when that
//             socket has no file yet, such as a connection not accepted)
//   carried:  inode of a socket file in the message
//
// The walk is bounded (MAX_SKBS messages per socket, MAX_FDS descriptors per message); what
// lies beyond is not reported, and user space then says what remains possible instead.
//
// CO-RE: only the fields read here are declared, with preserve_access_index, so the loader
// relocates them against the running kernel's BTF. No vmlinux.h is generated or committed.
// Rebuild the committed object with bpf/build.sh.

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define CORE __attribute__((preserve_access_index))

struct inode {
	__u16 i_mode;
	unsigned long i_ino;
} CORE;

struct file {
	struct inode *f_inode;
} CORE;

struct socket {
	struct file *file;
} CORE;

struct sk_buff {
	struct sk_buff *next;
	char cb[48];
} CORE;

struct sk_buff_head {
	struct sk_buff *next;
	__u32 qlen;
} CORE;

struct sock {
	struct sk_buff_head sk_receive_queue;
	struct socket *sk_socket;
} CORE;

struct unix_sock {
	struct sock sk;
} CORE;

struct scm_fp_list {
	short count;
	struct file *fp[253];
} CORE;

// What af_unix keeps in skb->cb (UNIXCB).
struct unix_skb_parms {
	struct scm_fp_list *fp;
} CORE;

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} CORE;

struct bpf_iter__unix {
	struct bpf_iter_meta *meta;
	struct unix_sock *unix_sk;
	__u32 uid;
} CORE;

// long bpf_seq_write(struct seq_file *m, const void *data, u32 len), helper 127.
static long (*bpf_seq_write)(struct seq_file *m, const void *data, __u32 len) = (void *)127;
// long bpf_probe_read_kernel(void *dst, u32 size, const void *unsafe_ptr), helper 113.
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *src) = (void *)113;

#define S_IFMT 0170000
#define S_IFSOCK 0140000
#define MAX_SKBS 32
#define MAX_FDS 8

struct record {
	__u64 receiver;
	__u64 carried;
};

SEC("iter/unix")
int whoport_in_flight(struct bpf_iter__unix *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct unix_sock *u = ctx->unix_sk;
	struct record r;

	if (!u)
		return 0;
	__u32 queued = u->sk.sk_receive_queue.qlen;
	if (!queued)
		return 0;
	r.receiver = 0;
	struct socket *sock = u->sk.sk_socket;
	if (sock && sock->file && sock->file->f_inode)
		r.receiver = sock->file->f_inode->i_ino;
	struct sk_buff *skb = u->sk.sk_receive_queue.next;
	for (int i = 0; i < MAX_SKBS; i++) {
		if (i >= queued || !skb)
			break;
		// skb->cb is bytes to the verifier: what it holds is read with probe reads.
		struct unix_skb_parms *cb = (struct unix_skb_parms *)skb->cb;
		struct scm_fp_list *fpl = 0;
		bpf_probe_read_kernel(&fpl, sizeof(fpl), &cb->fp);
		short count = 0;
		if (fpl)
			bpf_probe_read_kernel(&count, sizeof(count), &fpl->count);
		for (int j = 0; j < MAX_FDS; j++) {
			if (j >= count)
				break;
			struct file *f = 0;
			struct inode *inode = 0;
			__u16 mode = 0;
			bpf_probe_read_kernel(&f, sizeof(f), &fpl->fp[j]);
			if (!f)
				continue;
			bpf_probe_read_kernel(&inode, sizeof(inode), &f->f_inode);
			if (!inode)
				continue;
			bpf_probe_read_kernel(&mode, sizeof(mode), &inode->i_mode);
			if ((mode & S_IFMT) != S_IFSOCK)
				continue;
			unsigned long ino = 0;
			bpf_probe_read_kernel(&ino, sizeof(ino), &inode->i_ino);
			r.carried = ino;
			bpf_seq_write(seq, &r, sizeof(r));
		}
		skb = skb->next;
	}
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
