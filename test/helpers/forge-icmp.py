#!/usr/bin/env python3
"""Forges one ICMP (or ICMPv6) error quoting a UDP 4-tuple and sends it to loopback.

    forge-icmp.py check                                   exit 0 when raw sockets open here
    forge-icmp.py 4 SRC_PORT DST_PORT TYPE CODE           quotes 127.0.0.1:SRC -> 127.0.0.1:DST
    forge-icmp.py 6 SRC_PORT DST_PORT TYPE CODE           quotes [::1]:SRC -> [::1]:DST

The quoted datagram is the one the receiving socket would have sent: its IP header (source = the
socket's address and port) and the first 8 bytes of its UDP header, as a router or a firewall
quotes it. Loopback addresses only.
"""
import socket
import struct
import sys


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b'\0'
    s = sum(struct.unpack('!%dH' % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def icmp4(sport: int, dport: int, typ: int, code: int) -> None:
    addr = socket.inet_aton('127.0.0.1')
    payload = 64
    udp = struct.pack('!HHHH', sport, dport, 8 + payload, 0)
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + 8 + payload, 0x1234, 0x4000, 64, socket.IPPROTO_UDP, 0, addr, addr)
    ip = ip[:10] + struct.pack('!H', checksum(ip)) + ip[12:]
    # next-hop MTU 1200 in the last two bytes (only read for fragmentation-needed)
    msg = struct.pack('!BBHHH', typ, code, 0, 0, 1200) + ip + udp
    msg = msg[:2] + struct.pack('!H', checksum(msg)) + msg[4:]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
        s.sendto(msg, ('127.0.0.1', 0))


def icmp6(sport: int, dport: int, typ: int, code: int) -> None:
    addr = socket.inet_pton(socket.AF_INET6, '::1')
    payload = 64
    udp = struct.pack('!HHHH', sport, dport, 8 + payload, 0)
    ip6 = struct.pack('!IHBB16s16s', 6 << 28, 8 + payload, socket.IPPROTO_UDP, 64, addr, addr)
    # the kernel fills in the ICMPv6 checksum of a raw ICMPv6 socket
    msg = struct.pack('!BBHI', typ, code, 0, 1280) + ip6 + udp
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        s.sendto(msg, ('::1', 0))


def main() -> int:
    if sys.argv[1:] == ['check']:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP):
            pass
        with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6):
            pass
        return 0
    family, sport, dport, typ, code = sys.argv[1], *map(int, sys.argv[2:6])
    (icmp6 if family == '6' else icmp4)(sport, dport, typ, code)
    return 0


if __name__ == '__main__':
    sys.exit(main())
