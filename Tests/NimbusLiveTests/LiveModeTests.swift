import Foundation
import NimbusTestSupport
import Testing

/// Why live mode cannot run here, or nil. (Outside the suite: its @Suite trait cannot refer to the type.)
private let liveModeUnavailable: String? = {
    if geteuid() != 0 { return "not root" }
    if tool("ip") == nil { return "iproute2 (ip) not installed" }
    if tool("curl") == nil { return "curl not installed" }
    if tool("python3") == nil && !FileManager.default.isExecutableFile(atPath: "/usr/local/bin/python3") { return "python3 not installed" }
    return nil
}()

/// `nimbus up` on real links: namespaces as instances, real curl and python3 http.server through the
/// dataplane. Needs root and network namespaces (CI has both); the runner reports the suite skipped, and
/// why, otherwise.
@Suite(.serialized, .enabled(if: liveModeUnavailable == nil, "live mode: \(liveModeUnavailable ?? "available")"))
struct LiveModeTests {
    /// A running `nimbus up`, stopped (SIGTERM) at the end.
    final class Site {
        let process = Process()
        let output = Pipe()
        var background: [Process] = []

        init(_ topology: String, _ extra: [String] = []) throws {
            process.executableURL = URL(fileURLWithPath: Repo.nimbus)
            process.arguments = ["up", Repo.path("Topologies/\(topology).yaml"), "--quiet"] + extra
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Wait for "ready".
            let deadline = Date().addingTimeInterval(20)
            var seen = ""
            while Date() < deadline && !seen.contains("ready") {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty { break }
                seen += String(decoding: data, as: UTF8.self)
            }
            guard seen.contains("ready") else { stop(); throw LiveTestError("nimbus up did not become ready: \(seen)") }
        }

        /// Starts a long-running command inside an instance or host (via `nimbus exec`).
        @discardableResult
        func start(_ name: String, _ command: [String], log: String? = nil) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Repo.nimbus)
            p.arguments = ["exec", name, "--"] + command
            if let log {
                _ = FileManager.default.createFile(atPath: log, contents: nil)
                let h = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
                p.standardError = h
                p.standardOutput = h
            } else {
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
            }
            try p.run()
            background.append(p)
            return p
        }

        func exec(_ name: String, _ command: [String]) throws -> CommandResult {
            try run(Repo.nimbus, ["exec", name, "--"] + command)
        }

        /// curl from `name`, retrying while a server comes up (python's start can take seconds on a busy
        /// machine); returns the body or nil.
        func curl(from name: String, _ url: String, attempts: Int = 60, timeout: Int = 2) throws -> String? {
            for _ in 0..<attempts {
                let r = try exec(name, ["curl", "-s", "-m", String(timeout), url])
                if r.status == 0 { return r.stdout }
                usleep(250_000)
            }
            return nil
        }

        /// Waits until something listens on `port` inside `name` (up to 20 s).
        func waitForListener(_ name: String, port: Int) throws {
            for _ in 0..<80 {
                let r = try exec(name, ["ss", "-ltnH", "sport = :\(port)"])
                if r.status == 0 && !r.stdout.isEmpty { return }
                usleep(250_000)
            }
        }

        func stop() {
            for p in background { LiveModeTests.end(p) }
            LiveModeTests.end(process, grace: 10)
        }

        deinit { stop() }
    }

    /// SIGTERM, then SIGKILL if it has not exited after `grace` seconds: a test never hangs on a child.
    static func end(_ p: Process, grace: Double = 3) {
        guard p.isRunning else { return }
        p.terminate()
        let deadline = Date().addingTimeInterval(grace)
        while p.isRunning && Date() < deadline { usleep(50_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
    }

    struct LiveTestError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    static func leftovers() throws -> [String] {
        let r = try run("/usr/bin/env", ["ip", "netns", "list"])
        return r.stdout.split(separator: "\n").filter { $0.hasPrefix("nb-") }.map(String.init)
    }

    /// A directory with index.html saying `text`.
    static func site(_ text: String) throws -> String {
        let dir = makeTempDirectory("nimbus-www")
        try text.write(toFile: dir + "/index.html", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func publicInstancesServeAllowedPortsAndRefuseOthers() throws {
        let site = try Site("public-ip")
        defer { site.stop() }
        let www = try Self.site("hello from web-1")
        try site.start("web-1", ["python3", "-m", "http.server", "80", "--bind", "203.0.113.10", "--directory", www])
        try site.start("web-1", ["python3", "-m", "http.server", "8080", "--bind", "203.0.113.10", "--directory", www])
        try site.waitForListener("web-1", port: 80)
        try site.waitForListener("web-1", port: 8080)
        let body = try site.curl(from: "client", "http://203.0.113.10/")
        #expect(body == "hello from web-1")
        // 8080 is not in web's ingress rules: the SYN is dropped, curl times out.
        let denied = try site.curl(from: "client", "http://203.0.113.10:8080/", attempts: 1, timeout: 2)
        #expect(denied == nil)
        // Ping across subnets (db admits ICMP echo) and to the gateway.
        #expect(try site.exec("web-1", ["ping", "-c", "1", "-W", "2", "203.0.113.70"]).status == 0)
        #expect(try site.exec("web-1", ["ping", "-c", "1", "-W", "2", "203.0.113.1"]).status == 0)
        site.stop()
        #expect(try Self.leftovers().isEmpty)
    }

    /// With several workers, each connection's source port picks the worker (and its share of NAT ports).
    @Test(arguments: [1, 3]) func natPrivateInstancesReachTheInternetFromTheNATAddress(workers: Int) throws {
        let site = try Site("nat-private", ["--workers", "\(workers)"])
        defer { site.stop() }
        let www = try Self.site("hello from the internet")
        let log = makeTempDirectory() + "/server.log"
        try site.start("example", ["python3", "-u", "-m", "http.server", "80", "--bind", "198.51.100.20", "--directory", www], log: log)
        try site.waitForListener("example", port: 80)
        let body = try site.curl(from: "app-1", "http://198.51.100.20/")
        #expect(body == "hello from the internet")
        for _ in 0..<(workers == 1 ? 0 : 6) {
            #expect(try site.curl(from: "app-1", "http://198.51.100.20/", attempts: 1, timeout: 3) == "hello from the internet")
        }
        // The server saw the NAT gateway's address, never 10.0.1.10.
        let seen = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(seen.contains("203.0.113.1 ") || seen.contains("203.0.113.2 "), "server log: \(seen)")
        #expect(!seen.contains("10.0.1.10"))
        // The internet cannot open a connection to a private instance's mapping.
        #expect(try site.curl(from: "example", "http://203.0.113.1:40000/", attempts: 1, timeout: 2) == nil)
        site.stop()
        #expect(try Self.leftovers().isEmpty)
    }

    @Test func aLoadBalancerVIPSpreadsOverItsTargets() throws {
        let site = try Site("load-balancer")
        defer { site.stop() }
        for (name, ip) in [("web-1", "10.0.1.10"), ("web-2", "10.0.1.11"), ("web-3", "10.0.1.12")] {
            try site.start(name, ["python3", "-m", "http.server", "8080", "--bind", ip, "--directory", try Self.site(name)])
        }
        for name in ["web-1", "web-2", "web-3"] { try site.waitForListener(name, port: 8080) }
        var seen: [String: Int] = [:]
        for _ in 0..<8 {
            if let body = try site.curl(from: "client", "http://203.0.113.80/") { seen[body, default: 0] += 1 }
        }
        // Weighted round-robin 1:1:2 over new connections: every target answers, web-3 most.
        #expect(Set(seen.keys) == ["web-1", "web-2", "web-3"], "\(seen)")
        #expect((seen["web-3"] ?? 0) >= (seen["web-1"] ?? 0))
        // The internal VIP from an instance.
        #expect(try site.curl(from: "app-1", "http://10.0.1.200/") != nil)
        site.stop()
        #expect(try Self.leftovers().isEmpty)
    }

    @Test func downCleansUpAfterACrash() throws {
        let site = try Site("security-groups")
        kill(site.process.processIdentifier, SIGKILL)
        site.process.waitUntilExit()
        #expect(!(try Self.leftovers().isEmpty))
        // Starting again over the leftovers is refused with a clear message.
        let again = try run(Repo.nimbus, ["up", Repo.path("Topologies/security-groups.yaml"), "--quiet"])
        #expect(again.status != 0 && again.stderr.contains("nimbus down"))
        let down = try run(Repo.nimbus, ["down"])
        #expect(down.status == 0 && down.stdout.contains("three-tier"))
        #expect(try Self.leftovers().isEmpty)
    }

    @Test func metricsAreServedForPrometheus() throws {
        let port = 19_000 + Int(getpid()) % 1000
        let site = try Site("nat-private", ["--metrics", "127.0.0.1:\(port)"])
        defer { site.stop() }
        #expect(try site.exec("app-1", ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.0.1.1"]).status == 0)
        usleep(1_500_000)   // the metrics follow the dataplane's counters once a second
        let r = try run("/usr/bin/env", ["curl", "-s", "-m", "3", "http://127.0.0.1:\(port)/metrics"])
        #expect(r.status == 0)
        #expect(r.stdout.contains("# TYPE nimbus_port_packets_total counter"))
        let line = r.stdout.split(separator: "\n").first {
            $0.hasPrefix("nimbus_port_packets_total{") && $0.contains("port=\"app-1\"") && $0.contains("direction=\"in\"")
        }
        let value = line.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) } ?? 0
        #expect(value >= 3, "\(line ?? "no app-1 line")")
        #expect(r.stdout.contains("nimbus_drops_total{site=\"vpc-site\",reason=\"sg-ingress-denied\"}"))
        let missing = try run("/usr/bin/env", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:\(port)/other"])
        #expect(missing.stdout == "404")
        site.stop()
        #expect(try Self.leftovers().isEmpty)
    }

    /// The office end of Topologies/vpn-site-to-site.yaml is a stock WireGuard: wireguard-go, set up with
    /// `wg`, in the internet host office-gw. Pings cross the tunnel both ways.
    @Test(.enabled(if: tool("wireguard-go") != nil && tool("wg") != nil,
                   "wireguard-go / wg not installed (scripts/setup --test installs them)"),
          .enabled(if: FileManager.default.fileExists(atPath: "/dev/net/tun"), "no /dev/net/tun"),
          .timeLimit(.minutes(3)))
    func wireguardGoPeerPingsThroughTheTunnelBothWays() throws {
        let wggo = try #require(tool("wireguard-go")), wg = try #require(tool("wg"))
        let site = try Site("vpn-site-to-site")
        defer { site.stop() }
        // wireguard-go's control socket is not namespaced: a name of our own.
        let wgIf = "nbwg\(Int(getpid()) % 10_000)"
        let dir = makeTempDirectory()
        try "GKpiR+UChNi8PUaXCXuz8HiU3MsfhnU1zCOj2kSiuWY=\n".write(toFile: dir + "/office.key", atomically: true, encoding: .utf8)
        try "x+lUr5hAHScW31xy+ZW78BsDNNRdA06fu4aC2oQuWts=\n".write(toFile: dir + "/psk", atomically: true, encoding: .utf8)
        try site.start("office-gw", [wggo, "-f", wgIf])
        var up = false
        for _ in 0..<100 where !up {
            up = (try? site.exec("office-gw", ["ip", "link", "show", wgIf]))?.status == 0
            if !up { usleep(50_000) }
        }
        try #require(up, "wireguard-go did not create \(wgIf)")
        for cmd in [
            [wg, "set", wgIf, "private-key", dir + "/office.key", "listen-port", "51820",
             "peer", "9ZqK0/qV0QTjQjd1IcQi+OBHEhI/nV3eePm0Do2wl2Y=", "preshared-key", dir + "/psk",
             "endpoint", "203.0.113.3:51820", "allowed-ips", "10.10.0.0/16"],
            ["ip", "addr", "add", "10.20.1.10/32", "dev", wgIf],
            ["ip", "link", "set", wgIf, "up"],
            ["ip", "route", "add", "10.10.0.0/16", "dev", wgIf],
        ] {
            let r = try site.exec("office-gw", cmd)
            try #require(r.status == 0, "\(cmd.joined(separator: " ")): \(r.stderr)")
        }
        // The office pings app-1 (the app group admits ICMP echo from 10.20.0.0/16): wireguard-go starts
        // the handshake, Nimbus answers it, and the echo comes back sealed.
        var fromOffice = try site.exec("office-gw", ["ping", "-c", "3", "-i", "0.3", "-W", "3", "10.10.1.10"])
        if fromOffice.status != 0 {
            fromOffice = try site.exec("office-gw", ["ping", "-c", "3", "-i", "0.3", "-W", "3", "10.10.1.10"])
        }
        #expect(fromOffice.status == 0, "\(fromOffice.stdout)")
        // And app-1 pings the office's tunnel address: Nimbus seals, wireguard-go's kernel side answers.
        let fromCloud = try site.exec("app-1", ["ping", "-c", "3", "-i", "0.3", "-W", "3", "10.20.1.10"])
        #expect(fromCloud.status == 0, "\(fromCloud.stdout)")
        // wireguard-go saw a handshake with the cloud's key and received data from it.
        let show = try site.exec("office-gw", [wg, "show", wgIf, "latest-handshakes"])
        let when = show.stdout.split(whereSeparator: { $0 == "\t" || $0 == "\n" })
        #expect(when.first == "9ZqK0/qV0QTjQjd1IcQi+OBHEhI/nV3eePm0Do2wl2Y=" && (when.dropFirst().first.flatMap { Int($0) } ?? 0) > 0,
                "\(show.stdout)")
        let transfer = try site.exec("office-gw", [wg, "show", wgIf, "transfer"])
        let received = transfer.stdout.split(whereSeparator: { $0 == "\t" || $0 == "\n" }).dropFirst().first.flatMap { Int($0) } ?? 0
        #expect(received > 300, "\(transfer.stdout)")
        site.stop()
        #expect(try Self.leftovers().isEmpty)
    }
}
