import Foundation
import Testing

/// `nimbus up` on real links: namespaces as instances, real curl and python3 http.server through the
/// dataplane. Needs root and network namespaces (CI has both); skips with a printed reason otherwise.
@Suite(.serialized) struct LiveModeTests {
    static var unavailable: String? {
        if geteuid() != 0 { return "not root" }
        if tool("ip") == nil { return "iproute2 (ip) not installed" }
        if tool("curl") == nil { return "curl not installed" }
        if tool("python3") == nil && !FileManager.default.isExecutableFile(atPath: "/usr/local/bin/python3") { return "python3 not installed" }
        return nil
    }

    /// A running `nimbus up`, stopped (SIGTERM) at the end.
    final class Site {
        let process = Process()
        let output = Pipe()
        var background: [Process] = []

        init(_ topology: String) throws {
            process.executableURL = URL(fileURLWithPath: Repo.nimbus)
            process.arguments = ["up", Repo.path("Topologies/\(topology).yaml"), "--quiet"]
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
                FileManager.default.createFile(atPath: log, contents: nil)
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
        if let why = Self.unavailable { print("skipping live test: \(why)"); return }
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

    @Test func natPrivateInstancesReachTheInternetFromTheNATAddress() throws {
        if let why = Self.unavailable { print("skipping live test: \(why)"); return }
        let site = try Site("nat-private")
        defer { site.stop() }
        let www = try Self.site("hello from the internet")
        let log = makeTempDirectory() + "/server.log"
        try site.start("example", ["python3", "-u", "-m", "http.server", "80", "--bind", "198.51.100.20", "--directory", www], log: log)
        try site.waitForListener("example", port: 80)
        let body = try site.curl(from: "app-1", "http://198.51.100.20/")
        #expect(body == "hello from the internet")
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
        if let why = Self.unavailable { print("skipping live test: \(why)"); return }
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
        if let why = Self.unavailable { print("skipping live test: \(why)"); return }
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
}
