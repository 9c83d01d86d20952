import Foundation
import NimbusWire
import Testing
@testable import NimbusVPN
#if canImport(Glibc)
import Glibc
#endif

/// Interop with a real WireGuard peer: `wireguard-go` in a network namespace, configured with `wg`, joined
/// to this process by a veth pair. Our interface initiates over a plain UDP socket, pings through the
/// tunnel and answers the peer's ping; a second run also captures the exchange (tcpdump) and has tshark
/// decrypt it with our key log. Skipped (the runner says why) when not root, without /dev/net/tun or
/// ip(8), when wireguard-go/wg are missing and there is no apt-get to install them, and the decryption
/// without tcpdump and tshark. Once those hold, failing to install wireguard-go/wg or to create the
/// namespace fails the test. Serialized: both runs make a namespace and a wireguard-go of their own.
@Suite(.serialized) struct InteropTests {
    static func sh(_ args: [String], timeout: TimeInterval = 20) -> CommandOutput? {
        runCommand(args[0], Array(args.dropFirst()), timeout: timeout)
    }

    static func which(_ tool: String) -> String? {
        for dir in ["/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(tool)") {
            return "\(dir)/\(tool)"
        }
        return nil
    }

    /// A UDP socket bound to `address:0`, with a receive timeout.
    final class UDPSocket {
        let fd: Int32
        let port: UInt16
        init?(address: IPv4Address) {
            let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = address.value.bigEndian
            sa.sin_port = 0
            let ok = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard ok == 0 else { close(fd); return nil }
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
            }
            self.fd = fd
            port = UInt16(bigEndian: sa.sin_port)
            var tv = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        }
        deinit { close(fd) }

        func send(_ bytes: [UInt8], to e: WireGuardEndpoint) {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = e.address.value.bigEndian
            sa.sin_port = e.port.bigEndian
            _ = bytes.withUnsafeBytes { b in
                withUnsafePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, b.baseAddress, b.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                    }
                }
            }
        }

        /// One datagram, or nil after the 200 ms receive timeout.
        func receive() -> ([UInt8], WireGuardEndpoint)? {
            var buf = [UInt8](repeating: 0, count: 2048)
            var sa = sockaddr_in()
            var len = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = buf.withUnsafeMutableBytes { b in
                withUnsafeMutablePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, b.baseAddress, b.count, 0, $0, &len) }
                }
            }
            guard n > 0 else { return nil }
            let from = WireGuardEndpoint(address: IPv4Address(value: UInt32(bigEndian: sa.sin_addr.s_addr)),
                                         port: UInt16(bigEndian: sa.sin_port))
            return (Array(buf[0..<n]), from)
        }
    }

    static func wallClockNanoseconds() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1e9) }

    /// Root, /dev/net/tun and ip(8), and wireguard-go and wg installed or apt-get to install them.
    static let canRun: Bool = getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/net/tun") && which("ip") != nil
        && ((which("wireguard-go") != nil && which("wg") != nil) || FileManager.default.isExecutableFile(atPath: "/usr/bin/apt-get"))
    /// tcpdump to capture the tunnel, tshark to decrypt it.
    static let canDecrypt: Bool = which("tcpdump") != nil && which("tshark") != nil

    @Test(.enabled(if: InteropTests.canRun, "needs root, /dev/net/tun, ip(8), and wireguard-go + wg (or apt-get to install them)"),
          .timeLimit(.minutes(3)))
    func pingThroughWireguardGo() throws {
        try Self.interop(decrypt: false)
    }

    @Test(.enabled(if: InteropTests.canRun, "needs root, /dev/net/tun, ip(8), and wireguard-go + wg (or apt-get to install them)"),
          .enabled(if: InteropTests.canDecrypt, "needs tcpdump and tshark"),
          .timeLimit(.minutes(3)))
    func tsharkDecryptsTheCaptureWithOurKeyLog() throws {
        try Self.interop(decrypt: true)
    }

    /// The interop; with `decrypt`, tcpdump captures the veth meanwhile and tshark decrypts the capture after.
    static func interop(decrypt: Bool) throws {
        let ip = try #require(Self.which("ip"))
        if Self.which("wireguard-go") == nil || Self.which("wg") == nil {
            _ = Self.sh(["/usr/bin/apt-get", "install", "-y", "wireguard-tools", "wireguard-go"], timeout: 240)
        }
        let wggo = try #require(Self.which("wireguard-go"), "wireguard-go not installed, and apt-get could not install it")
        let wg = try #require(Self.which("wg"), "wg not installed, and apt-get could not install wireguard-tools")

        // Names and addresses of this run's own (the two runs never share a namespace or an interface).
        let id = Int(getpid()) % 5_000 * 2 + (decrypt ? 1 : 0)
        let ns = "nvpn\(id)", hostIf = "nvh\(id)", nsIf = "nvn\(id)"
        // wireguard-go's control socket (/var/run/wireguard/NAME.sock) is not namespaced: a unique name.
        let wgIf = "nwg\(id)"
        let subnet = 10_000 + id                       // 10.(200 + id/250).(id%250).0/30 below
        let third = UInt8(subnet % 250), second = UInt8(200 + (id / 250) % 50)
        let hostAddr = IPv4Address(10, second, third, 1), nsAddr = IPv4Address(10, second, third, 2)
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("nimbus-vpn-interop-\(id)")
        try? FileManager.default.removeItem(at: tmp)
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)

        var wgProcess: Process?
        var capture: Process?
        /// tcpdump (packet-buffered, so nothing is lost) does not always stop on SIGTERM while idle: SIGKILL.
        func stop(_ p: Process?) {
            guard let p, p.processIdentifier > 0, p.isRunning else { return }
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
        }
        defer {
            stop(capture)
            if let p = wgProcess, p.isRunning {
                p.terminate()
                for _ in 0..<40 where p.isRunning { usleep(50_000) }
            }
            _ = Self.sh([ip, "netns", "del", ns])
            _ = Self.sh([ip, "link", "del", hostIf])
            stop(wgProcess)
            try? FileManager.default.removeItem(at: tmp)
        }
        let added = Self.sh([ip, "netns", "add", ns])
        try #require(added?.status == 0, "cannot create a network namespace: \(added?.stderr ?? "timed out")")
        for cmd in [
            [ip, "link", "add", hostIf, "type", "veth", "peer", "name", nsIf],
            [ip, "link", "set", nsIf, "netns", ns],
            [ip, "addr", "add", "\(hostAddr)/30", "dev", hostIf],
            [ip, "link", "set", hostIf, "up"],
            [ip, "-n", ns, "addr", "add", "\(nsAddr)/30", "dev", nsIf],
            [ip, "-n", ns, "link", "set", nsIf, "up"],
            [ip, "-n", ns, "link", "set", "lo", "up"],
        ] {
            let r = Self.sh(cmd)
            try #require(r?.status == 0, "\(cmd.joined(separator: " ")): \(r?.stderr ?? "timed out")")
        }

        // Keys: ours and the office peer's, from a seeded generator; `wg pubkey` must agree with our derivation.
        var rng = SeededRandom(seed: 2026)
        let ourKey = WireGuardKey.generatePrivate(using: &rng)
        let theirKey = WireGuardKey.generatePrivate(using: &rng)
        let psk = WireGuardKey.generatePrivate(using: &rng)
        let pub = runCommand(wg, ["pubkey"], stdin: theirKey.base64 + "\n")
        #expect(pub?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == theirKey.publicKey.base64)

        guard let sock = UDPSocket(address: hostAddr) else { Issue.record("cannot bind UDP on \(hostAddr)"); return }
        let ourEnd = WireGuardEndpoint(address: hostAddr, port: sock.port)
        let theirEnd = WireGuardEndpoint(address: nsAddr, port: 51820)

        // Capture the veth while we talk (tcpdump, packet-buffered), for the tshark check.
        let pcap = tmp.appendingPathComponent("tunnel.pcap").path
        if decrypt {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: try #require(Self.which("tcpdump")))
            p.arguments = ["-i", hostIf, "-U", "-w", pcap, "udp"]
            p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
            try p.run()
            capture = p
        }

        // wireguard-go in the namespace, in the foreground so that we own its process.
        let wgp = Process()
        wgp.executableURL = URL(fileURLWithPath: ip)
        wgp.arguments = ["netns", "exec", ns, wggo, "-f", wgIf]
        wgp.standardOutput = FileHandle.nullDevice; wgp.standardError = FileHandle.nullDevice
        try wgp.run()
        wgProcess = wgp
        var up = false
        for _ in 0..<100 where !up {
            up = Self.sh([ip, "-n", ns, "link", "show", wgIf])?.status == 0
            if !up { usleep(50_000) }
        }
        try #require(up, "wireguard-go did not create \(wgIf)")
        let keyFile = tmp.appendingPathComponent("office.key").path, pskFile = tmp.appendingPathComponent("psk").path
        try (theirKey.base64 + "\n").write(toFile: keyFile, atomically: true, encoding: .utf8)
        try (psk.base64 + "\n").write(toFile: pskFile, atomically: true, encoding: .utf8)
        for cmd in [
            [ip, "netns", "exec", ns, wg, "set", wgIf, "private-key", keyFile, "listen-port", "51820",
             "peer", ourKey.publicKey.base64, "preshared-key", pskFile, "allowed-ips", "10.9.0.1/32",
             "endpoint", ourEnd.description],
            [ip, "-n", ns, "addr", "add", "10.9.0.2/24", "dev", wgIf],
            [ip, "-n", ns, "link", "set", wgIf, "up"],
        ] {
            let r = Self.sh(cmd)
            try #require(r?.status == 0, "\(cmd.joined(separator: " ")): \(r?.stderr ?? "timed out")")
        }
        usleep(300_000)  // let tcpdump start

        var us = WireGuardInterface(privateKey: ourKey, peers: [
            WireGuardPeerConfig(publicKey: theirKey.publicKey, presharedKey: psk, endpoint: theirEnd,
                                allowedIPs: [IPv4CIDR("10.9.0.2/32")!]),
        ], random: SeededRandom(seed: 7))
        us.recordHandshakeSecrets = true

        // 1. Our echo request 10.9.0.1 → 10.9.0.2, which first needs a handshake.
        let payload = Array("nimbus interop".utf8)
        let request = FrameBuilder.ipv4(source: IPv4Address("10.9.0.1")!, destination: IPv4Address("10.9.0.2")!,
                                        protocol: 1, payload: FrameBuilder.icmp(type: 8, identifier: 0x4E42, sequence: 1, payload: payload))
        let (r, initiation) = us.send(plaintext: request, toPeer: 0, now: Self.wallClockNanoseconds())
        guard case .handshakeInitiation = r, let initiation else { Issue.record("no initiation: \(r)"); return }
        sock.send(initiation.bytes, to: theirEnd)

        var handshakeDone = false
        var gotReply = false
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline && !gotReply {
            for d in us.tick(now: Self.wallClockNanoseconds()) { sock.send(d.bytes, to: d.endpoint) }
            guard let (datagram, from) = sock.receive() else { continue }
            var bytes = datagram
            switch us.receive(datagram: &bytes, from: from, now: Self.wallClockNanoseconds()) {
            case .handshakeComplete(_, let datagrams):
                handshakeDone = true
                for d in datagrams { sock.send(d.bytes, to: d.endpoint) }
            case .transport(let peer, let range):
                let inner = Array(bytes[range])
                #expect(us.allows(peer: peer, source: IPv4Address(value: UInt32(inner[12]) << 24 | UInt32(inner[13]) << 16 | UInt32(inner[14]) << 8 | UInt32(inner[15]))))
                if inner[9] == 1 && inner[20] == 0 {  // ICMP echo reply
                    #expect(Array(inner[12..<16]) == [10, 9, 0, 2] && Array(inner[16..<20]) == [10, 9, 0, 1])
                    #expect(Array(inner[24..<28]) == [0x4E, 0x42, 0, 1])
                    #expect(Array(inner[28...]) == payload)
                    gotReply = true
                }
            default: break
            }
        }
        #expect(handshakeDone, "no handshake response from wireguard-go")
        #expect(gotReply, "no echo reply through the tunnel")

        // 2. The other way: the namespace pings 10.9.0.1 through wireguard-go; we answer.
        let pingProcess = Process()
        pingProcess.executableURL = URL(fileURLWithPath: ip)
        pingProcess.arguments = ["netns", "exec", ns, "ping", "-c", "2", "-i", "0.3", "-W", "3", "10.9.0.1"]
        pingProcess.standardOutput = FileHandle.nullDevice; pingProcess.standardError = FileHandle.nullDevice
        try pingProcess.run()
        var answered = 0
        let deadline2 = Date().addingTimeInterval(10)
        while Date() < deadline2 && pingProcess.isRunning {
            for d in us.tick(now: Self.wallClockNanoseconds()) { sock.send(d.bytes, to: d.endpoint) }
            guard let (datagram, from) = sock.receive() else { continue }
            var bytes = datagram
            guard case .transport(let peer, let range) = us.receive(datagram: &bytes, from: from, now: Self.wallClockNanoseconds())
            else { continue }
            let inner = Array(bytes[range])
            guard inner[9] == 1, inner[20] == 8 else { continue }
            let icmp = Array(inner[20...])
            let reply = FrameBuilder.ipv4(source: IPv4Address("10.9.0.1")!, destination: IPv4Address("10.9.0.2")!, protocol: 1,
                                          payload: FrameBuilder.icmp(type: 0, identifier: UInt16(icmp[4]) << 8 | UInt16(icmp[5]),
                                                                     sequence: UInt16(icmp[6]) << 8 | UInt16(icmp[7]),
                                                                     payload: Array(icmp[8...])))
            let (sr, d) = us.send(plaintext: reply, toPeer: peer, now: Self.wallClockNanoseconds())
            if case .sealed = sr, let d { sock.send(d.bytes, to: d.endpoint); answered += 1 }
        }
        if pingProcess.isRunning { pingProcess.terminate() }
        pingProcess.waitUntilExit()
        #expect(answered >= 1)
        #expect(pingProcess.terminationStatus == 0, "ping from the wireguard-go side failed")

        let show = Self.sh([ip, "netns", "exec", ns, wg, "show", wgIf, "transfer"])
        print("interop: wg show transfer: \(show?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?")")
        print("interop: our stats: \(us.stats)")

        // 3. tshark decrypts the capture with our key log and shows the inner ICMP.
        guard decrypt else { return }
        let cap = try #require(capture)
        let tshark = try #require(Self.which("tshark"))
        usleep(300_000)
        stop(cap)
        capture = nil
        let keylog = tmp.appendingPathComponent("wg.keys").path
        try WireGuardKeyLog.text(for: us.completedHandshakes).write(toFile: keylog, atomically: true, encoding: .utf8)
        let out = runCommand(tshark, ["-r", pcap, "-o", "wg.keylog_file:\(keylog)", "-o", "wg.dissect_packet:TRUE",
                                      "-d", "udp.port==51820,wg", "-Y", "icmp",
                                      "-T", "fields", "-e", "wg.type", "-e", "ip.src", "-e", "ip.dst", "-e", "icmp.type"], timeout: 60)
        let lines = out?.stdout.split(separator: "\n").map(String.init) ?? []
        print("interop: tshark decrypted \(lines.count) ICMP packets:\n" + lines.joined(separator: "\n"))
        // Fields: wg.type, ip.src and ip.dst (outer,inner), icmp.type.
        func shown(_ src: String, _ dst: String, _ type: String) -> Bool {
            lines.contains { line in
                let f = line.split(separator: "\t").map(String.init)
                return f.count == 4 && f[0] == "4" && f[1].hasSuffix("," + src) && f[2].hasSuffix("," + dst) && f[3] == type
            }
        }
        #expect(shown("10.9.0.1", "10.9.0.2", "8"), "tshark did not show our decrypted echo request")
        #expect(shown("10.9.0.2", "10.9.0.1", "0"), "tshark did not show the decrypted echo reply")
        #expect(shown("10.9.0.2", "10.9.0.1", "8") && shown("10.9.0.1", "10.9.0.2", "0"), "tshark did not show the ping from the peer")
        let types = runCommand(tshark, ["-r", pcap, "-d", "udp.port==51820,wg", "-T", "fields", "-e", "wg.type"], timeout: 60)
        let seen = Set(types?.stdout.split(separator: "\n").map(String.init) ?? [])
        #expect(seen.isSuperset(of: ["1", "2", "4"]), "WireGuard message types seen: \(seen)")
    }
}
