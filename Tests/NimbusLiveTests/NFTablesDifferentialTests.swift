#if canImport(Glibc)
import Glibc
import NimbusTestSupport
#endif
import Foundation
import NimbusDataplane
import NimbusReplay
import NimbusTopology
import NimbusWire
import Testing

/// Nimbus's NAT gateway against Linux's own: real traffic (UDP to two servers from one source port, a TCP
/// connection, ICMP echo) goes from an instance namespace through an nftables `masquerade` router namespace
/// to an "internet" namespace, captured by tcpdump on both sides of the router. The instance-side capture,
/// merged with the answers that arrived at the router from outside, is then replayed through a nat-private
/// topology with the same addresses, and the two NATs are compared flow by flow: the same flows leave, every
/// source is the public IP, both map the one UDP source port to one public port for both servers
/// (endpoint-independent), and the answers reach the instance at its private endpoint, as they did on Linux.
///
/// Needs root with CAP_SYS_ADMIN (network namespaces), `ip` (iproute2), `nft` (nftables), `tcpdump`, `python3`,
/// `timeout` and `ethtool` (scripts/setup --test installs them); the runner reports it skipped, and why, otherwise.
@Suite(.serialized) struct NFTablesDifferentialTests {
    static let requiredTools = ["ip", "nft", "tcpdump", "python3", "timeout", "ethtool"]
    /// The tools above that are not installed.
    static let missingTools = requiredTools.filter { tool($0) == nil }

    static let instanceIP = "10.0.1.10"
    static let publicIP = IPv4Address("203.0.113.1")!
    static let udpSourcePort: UInt16 = 40053
    static let tcpSourcePort: UInt16 = 41080
    static let echoIdentifier: UInt16 = 0x4242
    /// (protocol, remote address, remote port) of every flow the instance opens; ICMP echo has port 0.
    static let expectedFlows: Set<Flow> = [
        Flow(proto: 17, remote: IPv4Address("198.51.100.53")!, remotePort: 53),
        Flow(proto: 17, remote: IPv4Address("198.51.100.54")!, remotePort: 5353),
        Flow(proto: 6, remote: IPv4Address("198.51.100.20")!, remotePort: 8080),
        Flow(proto: 1, remote: IPv4Address("198.51.100.20")!, remotePort: 0),
    ]

    @Test(.enabled(if: hasSysAdmin, "network namespaces need root with CAP_SYS_ADMIN"),
          .enabled(if: NFTablesDifferentialTests.missingTools.isEmpty,
                   "\(NFTablesDifferentialTests.missingTools.joined(separator: ", ")) not installed (scripts/setup --test)"))
    func nimbusTranslatesLikeLinuxMasquerade() throws {
        var tools: [String: String] = [:]
        for name in Self.requiredTools {
            let path = try #require(tool(name), "\(name) not installed")
            tools[name] = path
        }
        let dir = makeTempDirectory("nimbus-nft")
        let lab = NamespaceLab(ip: tools["ip"]!)
        defer { lab.cleanup() }
        try lab.addNamespaces(["inst", "rtr", "ext"])
        let (inst, rtr, ext) = (lab.name("inst"), lab.name("rtr"), lab.name("ext"))

        // inst (10.0.1.10) — in0 [rtr: 10.0.1.1 | 203.0.113.1, masquerade] out0 — ext (203.0.113.2 and the
        // servers 198.51.100.20, .53, .54). Only addresses inside these namespaces are ever sent to.
        try lab.ip(["-n", rtr, "link", "add", "in0", "type", "veth", "peer", "name", "eth0", "netns", inst])
        try lab.ip(["-n", rtr, "link", "add", "out0", "type", "veth", "peer", "name", "eth0", "netns", ext])
        try lab.ip(["-n", inst, "addr", "add", Self.instanceIP + "/24", "dev", "eth0"])
        try lab.ip(["-n", inst, "link", "set", "eth0", "up"])
        try lab.ip(["-n", inst, "route", "add", "default", "via", "10.0.1.1"])
        try lab.ip(["-n", rtr, "addr", "add", "10.0.1.1/24", "dev", "in0"])
        try lab.ip(["-n", rtr, "addr", "add", "203.0.113.1/24", "dev", "out0"])
        try lab.ip(["-n", rtr, "link", "set", "in0", "up"])
        try lab.ip(["-n", rtr, "link", "set", "out0", "up"])
        try lab.ip(["-n", rtr, "route", "add", "198.51.100.0/24", "via", "203.0.113.2"])
        try lab.ip(["-n", ext, "addr", "add", "203.0.113.2/24", "dev", "eth0"])
        for a in ["198.51.100.20", "198.51.100.53", "198.51.100.54"] {
            try lab.ip(["-n", ext, "addr", "add", a + "/32", "dev", "eth0"])
        }
        try lab.ip(["-n", ext, "link", "set", "eth0", "up"])
        try lab.ip(["-n", ext, "route", "add", "default", "via", "203.0.113.1"])
        try lab.exec(rtr, ["/bin/sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])
        let rules = dir + "/masquerade.nft"
        try """
            table ip nat {
              chain postrouting {
                type nat hook postrouting priority 100; policy accept;
                oifname "out0" masquerade
              }
            }

            """.write(toFile: rules, atomically: true, encoding: .utf8)
        try lab.exec(rtr, [tools["nft"]!, "-f", rules])

        // veths hand locally made TCP/UDP on with a partial checksum (offload), which tcpdump captures as is;
        // with offload off where the traffic starts, captured checksums are final and comparable byte for byte.
        try lab.exec(inst, [tools["ethtool"]!, "-K", "eth0", "tx", "off"])
        try lab.exec(ext, [tools["ethtool"]!, "-K", "eth0", "tx", "off"])

        // Capture on both router interfaces, each direction in its own file.
        let captures: [(name: String, iface: String, direction: String)] = [
            ("from-instance", "in0", "in"), ("to-instance", "in0", "out"),
            ("to-internet", "out0", "out"), ("from-internet", "out0", "in"),
        ]
        for c in captures {
            let p = try lab.background(rtr, [tools["tcpdump"]!, "-Z", "root", "--immediate-mode", "-U", "-n",
                                             "--time-stamp-precision=nano", "-i", c.iface,
                                             "-Q", c.direction, "-w", "\(dir)/\(c.name).pcap"])
            let said = p.readStandardError(until: "listening on", seconds: 5)
            try #require(said.contains("listening on"), "tcpdump on \(c.iface) \(c.direction): \(said)")
        }
        let server = try lab.background(ext, [tools["timeout"]!, "15", tools["python3"]!, "-c", Self.serverScript])
        let ready = server.readStandardOutput(until: "ready", seconds: 5)
        try #require(ready.contains("ready"), "the servers in \(ext) did not start: \(ready) \(server.readStandardError(until: "\u{0}", seconds: 0.2))")

        let client = try lab.exec(inst, [tools["timeout"]!, "10", tools["python3"]!, "-c", Self.clientScript])
        #expect(client.stdout.contains("udp=2 tcp=ok icmp=2"), "Linux's NAT did not carry the traffic: \(client.stdout) \(client.stderr)")
        // Let the last packets reach the captures: tcpdump writes each packet as it gets it (-U), so wait until
        // no capture has grown for 300 ms (at most 3 s).
        var sizes: [UInt64] = [], still = 0, polls = 0
        while still < 3 && polls < 30 {
            polls += 1
            usleep(100_000)
            let now = captures.map { (try? FileManager.default.attributesOfItem(atPath: "\(dir)/\($0.name).pcap")[.size] as? UInt64) ?? 0 }
            still = now == sizes ? still + 1 : 0
            sizes = now
        }
        lab.stopAll(signal: SIGINT)

        // Linux's side, from the captures.
        let fromInstance = try readPcap(dir + "/from-instance.pcap")
        let linuxOut = try readPcap(dir + "/to-internet.pcap").compactMap { IPv4Packet($0.bytes) }
        let fromInternetFrames = try readPcap(dir + "/from-internet.pcap").filter {
            IPv4Packet($0.bytes).map { $0.dst == Self.publicIP } ?? false
        }
        let linuxIn = fromInternetFrames.compactMap { IPv4Packet($0.bytes) }
        let linuxDelivered = try readPcap(dir + "/to-instance.pcap").compactMap { IPv4Packet($0.bytes) }
        let instanceMAC = try #require(fromInstance.first { IPv4Packet($0.bytes) != nil }.map { $0.bytes.mac(6) },
                                       "no IPv4 packet from the instance in \(dir)/from-instance.pcap")

        // Nimbus's side: the same instance traffic, and the answers that reached Linux's router from outside.
        let answers = dir + "/answers.pcap"
        try writePcap(answers, fromInternetFrames.map { ($0.timestamp, $0.bytes) })
        let topology = dir + "/nat.yaml"
        try """
            version: 1
            name: nft-differential
            networks:
              - name: vpc
                cidr: 10.0.0.0/16
                mode: nat-private
                subnets: [ { name: app, cidr: 10.0.1.0/24 } ]
                nat: { public-ips: [203.0.113.1], ports: 1024-65535 }
            security-groups:
              - name: open
                ingress: [ { protocol: all, source: 0.0.0.0/0 } ]
            instances:
              - { name: app-1, network: vpc, subnet: app, ip: \(Self.instanceIP), mac: \(instanceMAC), security-groups: [open] }

            """.write(toFile: topology, atomically: true, encoding: .utf8)
        let out = dir + "/nimbus"
        let options = ReplayOptions(inputs: [("app-1", dir + "/from-instance.pcap"), ("internet", answers)], outputDirectory: out)
        let report = try Replay.run(config: TopologyLoader.load(path: topology).dataplaneConfig(), options: options,
                                    traceOutput: { _ in })
        let nimbusOut = try readPcap(out + "/internet.pcap").compactMap { IPv4Packet($0.bytes) }
        let nimbusDelivered = try readPcap(out + "/app-1.pcap").compactMap { IPv4Packet($0.bytes) }

        // Same flows out, packet for packet, every source rewritten to the public IP.
        let linuxFlows = Dictionary(grouping: linuxOut, by: \.outboundFlow)
        let nimbusFlows = Dictionary(grouping: nimbusOut, by: \.outboundFlow)
        #expect(Set(linuxFlows.keys) == Self.expectedFlows, "Linux sent \(linuxFlows.keys.sorted()) (captures in \(dir))")
        #expect(Set(nimbusFlows.keys) == Set(linuxFlows.keys),
                "Nimbus sent \(nimbusFlows.keys.sorted()), Linux \(linuxFlows.keys.sorted()) (captures in \(dir))")
        for (flow, packets) in linuxFlows {
            #expect(nimbusFlows[flow]?.count == packets.count,
                    "\(flow): Linux forwarded \(packets.count) packets, Nimbus \(nimbusFlows[flow]?.count ?? 0)")
        }
        #expect(linuxOut.allSatisfy { $0.src == Self.publicIP }, "Linux: \(linuxOut.filter { $0.src != Self.publicIP })")
        #expect(nimbusOut.allSatisfy { $0.src == Self.publicIP }, "Nimbus: \(nimbusOut.filter { $0.src != Self.publicIP })")

        // One public port (or echo identifier) per flow; the two UDP flows share one (endpoint-independent).
        func publicPorts(_ flows: [Flow: [IPv4Packet]]) -> [Flow: Set<UInt16>] { flows.mapValues { Set($0.map(\.sport)) } }
        let linuxPorts = publicPorts(linuxFlows), nimbusPorts = publicPorts(nimbusFlows)
        for flow in Self.expectedFlows {
            #expect(linuxPorts[flow]?.count == 1, "Linux: \(flow) left from \(linuxPorts[flow] ?? [])")
            #expect(nimbusPorts[flow]?.count == 1, "Nimbus: \(flow) left from \(nimbusPorts[flow] ?? [])")
        }
        let udp = Self.expectedFlows.filter { $0.proto == 17 }
        let linuxUDP = Set(udp.flatMap { linuxPorts[$0] ?? [] }), nimbusUDP = Set(udp.flatMap { nimbusPorts[$0] ?? [] })
        #expect(linuxUDP.count == 1, "Linux mapped \(Self.udpSourcePort) to \(linuxUDP) for two servers")
        #expect(nimbusUDP == [Self.udpSourcePort], "Nimbus mapped \(Self.udpSourcePort) to \(nimbusUDP) for two servers")
        let original: [UInt8: UInt16] = [17: Self.udpSourcePort, 6: Self.tcpSourcePort, 1: Self.echoIdentifier]
        for flow in Self.expectedFlows {
            #expect(nimbusPorts[flow] == [original[flow.proto]!], "Nimbus did not keep the free port of \(flow): \(nimbusPorts[flow] ?? [])")
        }

        // Answers: for every flow where both NATs chose the same public port, each answer that reached Linux's
        // router is delivered by Nimbus to app-1 at its private address and original port — as Linux delivered it.
        let samePort = Set(Self.expectedFlows.filter { linuxPorts[$0] != nil && linuxPorts[$0] == nimbusPorts[$0] })
        let linuxAnswers = Dictionary(grouping: linuxIn.filter { samePort.contains($0.inboundFlow) }, by: \.inboundFlow)
        let nimbusAnswers = Dictionary(grouping: nimbusDelivered, by: \.inboundFlow)
        let linuxDeliveredAnswers = Dictionary(grouping: linuxDelivered, by: \.inboundFlow)
        for flow in samePort.sorted() {
            let expected = linuxAnswers[flow]?.count ?? 0
            #expect(expected > 0, "no answer from outside for \(flow) in \(dir)/from-internet.pcap")
            let delivered = nimbusAnswers[flow] ?? []
            #expect(delivered.count == expected, "\(flow): \(expected) answers came in, Nimbus delivered \(delivered.count)")
            #expect(linuxDeliveredAnswers[flow]?.count == expected,
                    "\(flow): \(expected) answers came in, Linux delivered \(linuxDeliveredAnswers[flow]?.count ?? 0)")
            let port = original[flow.proto]!
            #expect(delivered.allSatisfy { $0.dst == IPv4Address(Self.instanceIP)! && $0.dport == port },
                    "\(flow): Nimbus delivered \(delivered)")
        }
        #expect(Set(nimbusAnswers.keys) == Set(linuxDeliveredAnswers.keys),
                "answers delivered: Nimbus \(nimbusAnswers.keys.sorted()), Linux \(linuxDeliveredAnswers.keys.sorted())")
        // Packet by packet, for flows where both chose the same public port: Nimbus's IPv4 packets are Linux's,
        // byte for byte from the IP header on (TTL, identification, options, payload and every checksum).
        func sameBytes(_ linux: [Flow: [IPv4Packet]], _ nimbus: [Flow: [IPv4Packet]], _ what: String) -> Int {
            var compared = 0
            for flow in samePort.sorted() {
                let l = linux[flow] ?? [], n = nimbus[flow] ?? []
                for (i, (a, b)) in zip(l, n).enumerated() {
                    #expect(a.l3 == b.l3, "\(what) \(flow) packet \(i + 1): Linux \(Self.hex(a.l3)), Nimbus \(Self.hex(b.l3))")
                    compared += 1
                }
            }
            return compared
        }
        let sameOut = sameBytes(linuxFlows, nimbusFlows, "out")
        let sameIn = sameBytes(linuxDeliveredAnswers, nimbusAnswers, "delivered")
        #expect(sameOut == linuxOut.count && sameIn == linuxDelivered.count)

        // Nothing of the test's traffic is dropped (IPv6 the kernel may still send is no flow of ours).
        #expect(report.counters.packetsDropped == report.counters.drops(.ipv6NotRouted),
                "Nimbus dropped packets: see \(out)/drops.pcapng")

        let answersCompared = samePort.reduce(0) { $0 + (linuxAnswers[$1]?.count ?? 0) }
        let ports = Self.expectedFlows.sorted().map { f in
            "\(f): Linux \(linuxPorts[f].map { $0.sorted().map(String.init).joined() } ?? "-"), Nimbus \(nimbusPorts[f].map { $0.sorted().map(String.init).joined() } ?? "-") (original \(original[f.proto]!))"
        }
        print("""
            nftables differential: \(linuxOut.count) packets out on Linux, \(nimbusOut.count) from Nimbus, in \(linuxFlows.count) flows; \
            Linux kept the UDP port: \(linuxUDP == [Self.udpSourcePort]), Nimbus: \(nimbusUDP == [Self.udpSourcePort]); \
            \(answersCompared) answers compared over \(samePort.count) flows with the same public port; \
            \(sameOut) packets out and \(sameIn) delivered identical to Linux's from the IP header on
              \(ports.joined(separator: "\n  "))
            """)
    }

    /// The servers in ext: UDP answers on 198.51.100.53:53 and 198.51.100.54:5353, a TCP echo on
    /// 198.51.100.20:8080; "ready" once listening; gone after 10 s whatever happens.
    static let serverScript = """
        import socket, select, time
        u1 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u1.bind(("198.51.100.53", 53))
        u2 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u2.bind(("198.51.100.54", 5353))
        t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("198.51.100.20", 8080)); t.listen(4)
        print("ready", flush=True)
        end = time.time() + 10
        conns = []
        while time.time() < end:
            r, _, _ = select.select([u1, u2, t] + conns, [], [], 0.2)
            for s in r:
                if s is t:
                    c, _ = t.accept(); conns.append(c)
                elif s in conns:
                    d = s.recv(1024)
                    if d: s.sendall(b"echo:" + d)
                    else: s.close(); conns.remove(s)
                else:
                    d, a = s.recvfrom(2048); s.sendto(b"answer:" + d, a)
        """

    /// The instance: two datagrams from one source port to two servers, one TCP exchange, two echo requests.
    static let clientScript = """
        import socket, struct, time
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("\(instanceIP)", \(udpSourcePort))); u.settimeout(1)
        udp = 0
        for dst in [("198.51.100.53", 53), ("198.51.100.54", 5353)]:
            u.sendto(b"query", dst)
            try: u.recvfrom(2048); udp += 1
            except socket.timeout: pass
        tcp = "failed"
        try:
            c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            c.bind(("\(instanceIP)", \(tcpSourcePort))); c.settimeout(2); c.connect(("198.51.100.20", 8080))
            c.sendall(b"hello")
            if c.recv(1024) == b"echo:hello": tcp = "ok"
            c.close()
        except OSError as e: tcp = str(e)
        def checksum(b):
            s = sum(struct.unpack("!%dH" % (len(b) // 2), b)); s = (s >> 16) + (s & 0xffff); s += s >> 16
            return ~s & 0xffff
        r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP); r.settimeout(1)
        icmp = 0
        for seq in (1, 2):
            h = struct.pack("!BBHHH", 8, 0, 0, \(echoIdentifier), seq) + b"nimbus"
            r.sendto(h[:2] + struct.pack("!H", checksum(h)) + h[4:], ("198.51.100.20", 0))
            deadline = time.time() + 1
            while time.time() < deadline:
                try: d = r.recv(2048)
                except socket.timeout: break
                ihl = (d[0] & 15) * 4
                if d[ihl] == 0 and struct.unpack("!HH", d[ihl + 4:ihl + 8]) == (\(echoIdentifier), seq): icmp += 1; break
        print("udp=%d tcp=%s icmp=%d" % (udp, tcp, icmp), flush=True)
        """
}

extension NFTablesDifferentialTests {
    /// A flow as seen from the NAT's outside: protocol, remote address and remote port (0 for ICMP echo).
    struct Flow: Hashable, Comparable, CustomStringConvertible {
        var proto: UInt8
        var remote: IPv4Address
        var remotePort: UInt16
        static func < (a: Flow, b: Flow) -> Bool { (a.proto, a.remote, a.remotePort) < (b.proto, b.remote, b.remotePort) }
        var description: String {
            let name = [1: "icmp", 6: "tcp", 17: "udp"][Int(proto)] ?? "proto \(proto)"
            return proto == 1 ? "\(name) \(remote)" : "\(name) \(remote):\(remotePort)"
        }
    }

    /// The fields of an IPv4 frame the comparison needs; ports are the echo identifier for ICMP echo and reply.
    struct IPv4Packet: CustomStringConvertible {
        /// The packet from the IP header to its total length.
        var l3: [UInt8]
        var proto: UInt8
        var src: IPv4Address, dst: IPv4Address
        var sport: UInt16, dport: UInt16

        init?(_ f: [UInt8]) {
            guard f.count >= 34, f.u16(12) == 0x0800, f[14] >> 4 == 4 else { return nil }
            let l4 = 14 + Int(f[14] & 0x0F) * 4
            l3 = Array(f[14..<min(f.count, 14 + Int(f.u16(16)))])
            proto = f[23]
            src = f.ip(26)
            dst = f.ip(30)
            sport = 0
            dport = 0
            guard f.u16(20) & 0x1FFF == 0 else { return }   // a later fragment: no ports
            if (proto == 6 || proto == 17) && f.count >= l4 + 4 {
                sport = f.u16(l4)
                dport = f.u16(l4 + 2)
            } else if proto == 1 && f.count >= l4 + 8 && (f[l4] == 8 || f[l4] == 0) {
                sport = f.u16(l4 + 4)
                dport = sport
            }
        }
        /// The flow of a packet leaving for the outside.
        var outboundFlow: Flow { Flow(proto: proto, remote: dst, remotePort: proto == 1 ? 0 : dport) }
        /// The flow of an answer coming from the outside.
        var inboundFlow: Flow { Flow(proto: proto, remote: src, remotePort: proto == 1 ? 0 : sport) }
        var description: String { "\(proto) \(src):\(sport) > \(dst):\(dport)" }
    }

    static func hex(_ b: [UInt8]) -> String { b.map { String(format: "%02x", $0) }.joined() }

    struct LabError: Error, CustomStringConvertible {
        var description: String
    }

    /// A process left running in the background, its output readable with a deadline.
    final class BackgroundProcess {
        let process = Process()
        private let out = Pipe(), err = Pipe()

        init(_ executable: String, _ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            process.standardOutput = out
            process.standardError = err
            // A child inherits the spawning thread's signal mask, and a test runs on a thread that blocks the
            // signals meant for the process (SIGINT, SIGTERM…): tcpdump would never see the SIGINT that stops it.
            var signals = sigset_t(), previous = sigset_t()
            sigemptyset(&signals)
            for s in [SIGHUP, SIGINT, SIGQUIT, SIGTERM] { sigaddset(&signals, s) }
            pthread_sigmask(SIG_UNBLOCK, &signals, &previous)
            defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
            try process.run()
        }

        func readStandardOutput(until marker: String, seconds: Double) -> String {
            Self.read(out.fileHandleForReading.fileDescriptor, until: marker, seconds: seconds)
        }
        func readStandardError(until marker: String, seconds: Double) -> String {
            Self.read(err.fileHandleForReading.fileDescriptor, until: marker, seconds: seconds)
        }

        /// Reads until `marker` shows, the stream ends or `seconds` pass.
        static func read(_ fd: Int32, until marker: String, seconds: Double) -> String {
            var text = ""
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 4096)
            while !text.contains(marker) {
                let left = deadline.timeIntervalSinceNow
                guard left > 0 else { break }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let r = poll(&p, 1, Int32(left * 1000) + 1)
                if r < 0 && errno == EINTR { continue }
                guard r > 0 else { break }
                let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                guard n > 0 else { break }
                text += String(decoding: buffer[0..<n], as: UTF8.self)
            }
            return text
        }

        /// Sends `signal`, waits up to `seconds` for the exit, then kills.
        func stop(signal: Int32 = SIGTERM, seconds: Double = 3) {
            guard process.isRunning else { return }
            kill(process.processIdentifier, signal)
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
        }
    }

    /// Network namespaces named after this process, and the processes run in them; `cleanup` ends both.
    final class NamespaceLab {
        let ipTool: String
        let tag = "nft\(getpid())"
        private(set) var namespaces: [String] = []
        private var processes: [BackgroundProcess] = []

        init(ip: String) { ipTool = ip }

        func name(_ role: String) -> String { "\(tag)-\(role)" }

        /// Makes the namespaces with loopback up and IPv6 off (so the captures hold only the test's IPv4).
        func addNamespaces(_ roles: [String]) throws {
            for role in roles {
                let ns = name(role)
                let r = try run(ipTool, ["netns", "add", ns])
                guard r.status == 0 else { throw LabError(description: "ip netns add \(ns): \(r.stderr.trimmingCharacters(in: .whitespacesAndNewlines))") }
                namespaces.append(ns)
                try ip(["-n", ns, "link", "set", "lo", "up"])
                _ = try run(ipTool, ["netns", "exec", ns, "/bin/sh", "-c",
                                     "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6"])
            }
        }

        func ip(_ arguments: [String]) throws {
            let r = try run(ipTool, arguments)
            guard r.status == 0 else { throw LabError(description: "ip \(arguments.joined(separator: " ")): \(r.stderr)") }
        }

        @discardableResult
        func exec(_ ns: String, _ command: [String]) throws -> CommandResult {
            let r = try run(ipTool, ["netns", "exec", ns] + command)
            guard r.status == 0 else {
                throw LabError(description: "in \(ns): \(command.joined(separator: " ").prefix(200)) exited \(r.status): \(r.stderr)")
            }
            return r
        }

        func background(_ ns: String, _ command: [String]) throws -> BackgroundProcess {
            let p = try BackgroundProcess(ipTool, ["netns", "exec", ns] + command)   // ip execs the command: same pid
            processes.append(p)
            return p
        }

        func stopAll(signal: Int32) {
            for p in processes { p.stop(signal: signal) }
        }

        func cleanup() {
            stopAll(signal: SIGTERM)
            for ns in namespaces.reversed() { _ = try? run(ipTool, ["netns", "del", ns]) }
            namespaces = []
        }
    }
}
