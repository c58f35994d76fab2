/* counters.h - the stack's named counters, one list for struct and names.
 *
 * Every receive, send and drop path bumps exactly one of these; the names
 * are what ustackd prints (layer_event, drops as layer_drop_reason).
 */
#ifndef USTACK_COUNTERS_H
#define USTACK_COUNTERS_H

#define US_COUNTER_LIST(X)                                                     \
	X(link_rx)                                                             \
	X(link_tx)                                                             \
	X(link_tx_err)                                                         \
	X(eth_rx)                                                              \
	X(eth_tx)                                                              \
	X(eth_drop_trunc)                                                      \
	X(eth_drop_not_us)                                                     \
	X(eth_drop_type)                                                       \
	X(arp_rx)                                                              \
	X(arp_tx)                                                              \
	X(arp_rx_request)                                                      \
	X(arp_rx_reply)                                                        \
	X(arp_tx_request)                                                      \
	X(arp_tx_reply)                                                        \
	X(arp_drop_trunc)                                                      \
	X(arp_drop_unsupported)                                                \
	X(arp_drop_bad_op)                                                     \
	X(arp_drop_bad_sender)                                                 \
	X(arp_drop_not_us)                                                     \
	X(arp_queue_drop)                                                      \
	X(arp_resolve_failed)                                                  \
	X(arp_cache_full)                                                      \
	X(ip4_rx)                                                              \
	X(ip4_tx)                                                              \
	X(ip4_rx_delivered)                                                    \
	X(ip4_drop_trunc)                                                      \
	X(ip4_drop_bad_header)                                                 \
	X(ip4_drop_bad_csum)                                                   \
	X(ip4_drop_bad_options)                                                \
	X(ip4_drop_not_us)                                                     \
	X(ip4_drop_bad_src)                                                    \
	X(ip4_drop_proto)                                                      \
	X(ip4_drop_no_route)                                                   \
	X(ip4_drop_too_big)                                                    \
	X(ip4_frag_rx)                                                         \
	X(ip4_frag_tx)                                                         \
	X(ip4_frag_created)                                                    \
	X(ip4_reass_ok)                                                        \
	X(ip4_reass_timeout)                                                   \
	X(ip4_reass_overlap)                                                   \
	X(ip4_reass_dup)                                                       \
	X(ip4_reass_oversize)                                                  \
	X(ip4_reass_mem_drop)                                                  \
	X(ip4_reass_bad_frag)                                                  \
	X(icmp_rx)                                                             \
	X(icmp_tx)                                                             \
	X(icmp_rx_echo)                                                        \
	X(icmp_tx_echo_reply)                                                  \
	X(icmp_rx_unreach)                                                     \
	X(icmp_rx_time_exceeded)                                               \
	X(icmp_rx_other)                                                       \
	X(icmp_tx_unreach)                                                     \
	X(icmp_tx_time_exceeded)                                               \
	X(icmp_drop_trunc)                                                     \
	X(icmp_drop_bad_csum)                                                  \
	X(icmp_drop_bad_inner)                                                 \
	X(icmp_drop_bcast_echo)                                                \
	X(icmp_rate_limited)                                                   \
	X(udp_rx)                                                              \
	X(udp_tx)                                                              \
	X(udp_drop_trunc)                                                      \
	X(udp_drop_bad_len)                                                    \
	X(udp_drop_bad_csum)                                                   \
	X(udp_drop_no_port)                                                    \
	X(udp_drop_rcvbuf)                                                     \
	X(udp_rx_icmp_err)                                                     \
	X(tcp_rx)                                                              \
	X(tcp_tx)                                                              \
	X(tcp_drop_trunc)                                                      \
	X(tcp_drop_bad_csum)                                                   \
	X(tcp_drop_bad_hdr)                                                    \
	X(tcp_drop_bad_opt)                                                    \
	X(tcp_drop_no_port)                                                    \
	X(tcp_rx_rst)                                                          \
	X(tcp_tx_rst)                                                          \
	X(sock_open)                                                           \
	X(sock_close)

enum us_ctr {
#define US_CTR_ENUM(n) US_CTR_##n,
	US_COUNTER_LIST(US_CTR_ENUM)
#undef US_CTR_ENUM
	US_CTR_MAX
};

extern const char *const us_counter_names[US_CTR_MAX];

#endif
