/* udpflood: small-packet UDP generator for bench/live.sh.
 *
 *   udpflood DST_IPV4[,DST_IPV4...] PORT SECONDS [SOCKETS] [PAYLOAD]
 *
 * Opens SOCKETS (default 64) UDP sockets, each bound to its own ephemeral source port, and
 * sends PAYLOAD-byte (default 18) datagrams round robin over the sockets, in sendmmsg()
 * batches of 64, for SECONDS seconds. Socket i sends to destination i mod (number of
 * destinations), so a list of addresses spreads the load (plain routing to every RIP). Prints "sent N pps P" (N datagrams the
 * kernel accepted). Send errors (ENOBUFS, EAGAIN, ECONNREFUSED from an ICMP error) are
 * counted and skipped. Built by bench/live.sh with `cc -O2`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAXSOCK 1024

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s DST_IPV4 PORT SECONDS [SOCKETS] [PAYLOAD]\n", argv[0]);
		return 2;
	}
	static struct sockaddr_in dst[64];
	int ndst = 0;
	for (char *tok = strtok(argv[1], ","); tok; tok = strtok(NULL, ",")) {
		if (ndst == 64 || inet_pton(AF_INET, tok, &dst[ndst].sin_addr) != 1) {
			fprintf(stderr, "bad address %s\n", tok);
			return 2;
		}
		dst[ndst++].sin_family = AF_INET;
	}
	if (ndst == 0) {
		fprintf(stderr, "no destination\n");
		return 2;
	}
	int port = atoi(argv[2]);
	double secs = atof(argv[3]);
	int nsock = argc > 4 ? atoi(argv[4]) : 64;
	int len = argc > 5 ? atoi(argv[5]) : 18;
	if (port <= 0 || port > 65535 || secs <= 0 || nsock < 1 || nsock > MAXSOCK || len < 0 ||
	    len > 1400) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	for (int i = 0; i < ndst; i++)
		dst[i].sin_port = htons((unsigned short)port);

	static int fds[MAXSOCK];
	for (int i = 0; i < nsock; i++) {
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		if (fds[i] < 0) {
			perror("socket");
			return 1;
		}
		struct sockaddr_in any = { .sin_family = AF_INET };
		if (bind(fds[i], (struct sockaddr *)&any, sizeof(any)) < 0) {
			perror("bind");
			return 1;
		}
	}

	static char payload[1400];
	memset(payload, 'x', sizeof(payload));
	struct iovec iov = { .iov_base = payload, .iov_len = (size_t)len };
	/* One batch of messages per destination. */
	static struct mmsghdr msgs[64][BATCH];
	for (int d = 0; d < ndst; d++) {
		for (int i = 0; i < BATCH; i++) {
			msgs[d][i].msg_hdr.msg_name = &dst[d];
			msgs[d][i].msg_hdr.msg_namelen = sizeof(dst[d]);
			msgs[d][i].msg_hdr.msg_iov = &iov;
			msgs[d][i].msg_hdr.msg_iovlen = 1;
		}
	}

	unsigned long long sent = 0, errors = 0;
	double start = now(), end = start + secs, t = start;
	unsigned long iter = 0;
	for (int s = 0; t < end; s = (s + 1) % nsock) {
		int r = sendmmsg(fds[s], msgs[s % ndst], BATCH, 0);
		if (r > 0)
			sent += (unsigned long long)r;
		else
			errors++;
		if ((++iter & 63) == 0)
			t = now();
	}
	double el = now() - start;
	printf("sent %llu pps %.0f errors %llu seconds %.3f\n", sent, (double)sent / el, errors, el);
	return 0;
}
