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
	X(link_drop_ipv6)                                                      \
	X(link_rx_csum_trusted)                                                \
	X(link_rx_large)                                                       \
	X(link_tx_tso)                                                         \
	X(link_tx_csum_sw)                                                     \
	X(link_drop_tso_held)                                                  \
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
	X(tcp_active_opens)                                                    \
	X(tcp_passive_opens)                                                   \
	X(tcp_defer_accept_held)                                               \
	X(tcp_attempt_fails)                                                   \
	X(tcp_estab_resets)                                                    \
	X(tcp_rx_data_segs)                                                    \
	X(tcp_tx_data_segs)                                                    \
	X(tcp_rx_bytes)                                                        \
	X(tcp_tx_bytes)                                                        \
	X(tcp_tx_acks)                                                         \
	X(tcp_delayed_acks)                                                    \
	X(tcp_retrans_segs)                                                    \
	X(tcp_fast_retrans)                                                    \
	X(tcp_sack_recoveries)                                                 \
	X(tcp_reno_recoveries)                                                 \
	X(tcp_recovery_partial_acks)                                           \
	X(tcp_timeouts)                                                        \
	X(tcp_lost_retrans)                                                    \
	X(tcp_tlp_probes)                                                      \
	X(tcp_limited_transmits)                                               \
	X(tcp_syn_retrans)                                                     \
	X(tcp_synack_retrans)                                                  \
	X(tcp_challenge_acks)                                                  \
	X(tcp_challenge_ack_limited)                                           \
	X(tcp_syncookies_sent)                                                 \
	X(tcp_syncookies_ok)                                                   \
	X(tcp_syncookies_failed)                                               \
	X(tcp_listen_overflow)                                                 \
	X(tcp_paws_drop)                                                       \
	X(tcp_ooo_segs)                                                        \
	X(tcp_ooo_drop)                                                        \
	X(tcp_dup_data_segs)                                                   \
	X(tcp_drop_out_of_window)                                              \
	X(tcp_rcv_wnd_clamped)                                                 \
	X(tcp_drop_bad_ack)                                                    \
	X(tcp_drop_no_ack)                                                     \
	X(tcp_drop_bad_syn)                                                    \
	X(tcp_sack_blocks_rx)                                                  \
	X(tcp_keepalive_probes)                                                \
	X(tcp_keepalive_timeouts)                                              \
	X(tcp_zero_window_probes)                                              \
	X(tcp_rx_window_probes)                                                \
	X(tcp_window_updates)                                                  \
	X(tcp_window_reopened)                                                 \
	X(tcp_rcvbuf_grown)                                                    \
	X(tcp_sndbuf_grown)                                                    \
	X(tcp_pmtu_updates)                                                    \
	X(tcp_pmtu_stale)                                                      \
	X(tcp_icmp_soft)                                                       \
	X(tcp_icmp_hard)                                                       \
	X(tcp_abort_on_close)                                                  \
	X(tcp_abort_on_data)                                                   \
	X(tcp_abort_on_timeout)                                                \
	X(tcp_abort_on_memory)                                                 \
	X(tcp_mem_refused)                                                     \
	X(tcp_time_wait_entered)                                               \
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
