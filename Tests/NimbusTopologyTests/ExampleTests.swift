import NimbusTopology
import NimbusWire
import Testing

@Suite struct ExampleTests {
    @Test func specExampleLoads() throws {
        let t = try #require(load(specExample))
        #expect(t.file == "t.yaml")
        #expect(t.name == "webapp")
        #expect(t.routerMAC == MACAddress("02:00:00:00:00:01"))
        #expect(t.conntrack.tcpPickup == .strict)
        #expect(t.internet.upstreamMAC == MACAddress("02:00:00:00:ff:fe"))
        #expect(t.internet.hosts == [InternetHost(name: "example", ip: IPv4Address(198, 51, 100, 20))])

        let vpc = try #require(t.network(named: "vpc"))
        #expect(vpc.cidr == IPv4CIDR("10.0.0.0/16"))
        #expect(vpc.mode == .natPrivate)
        #expect(vpc.subnets.map(\.name) == ["app"])
        #expect(vpc.subnets.first?.gateway == IPv4Address(10, 0, 1, 1))
        let nat = try #require(vpc.nat)
        #expect(nat.publicIPs == [IPv4Address(203, 0, 113, 1), IPv4Address(203, 0, 113, 2)])
        #expect(nat.ports == 1024...65535)
        #expect(nat.timeouts.tcpEstablished == 7440 * nanosecondsPerSecond)
        #expect(nat.timeouts.icmp == 60 * nanosecondsPerSecond)
        #expect(nat.filtering == .addressAndPortDependent)
    }

    @Test func specExampleSecurityGroups() throws {
        let t = try #require(load(specExample))
        let web = try #require(t.securityGroup(named: "web"))
        #expect(web.ingress.count == 3)
        #expect(web.ingress[0] == SecurityRule(
            protocol: .tcp, ports: [80...80, 443...443], peer: .cidr(try #require(IPCIDR("0.0.0.0/0")))))
        #expect(web.ingress[1] == SecurityRule(protocol: .tcp, ports: [22...22], peer: .group("admin")))
        #expect(web.ingress[2].protocol == .icmp)
        #expect(web.ingress[2].icmpType == 8)
        #expect(web.ingress[2].icmpCode == nil)
        #expect(web.egress == [SecurityRule(protocol: .all, peer: .cidr(try #require(IPCIDR("0.0.0.0/0"))))])
        let admin = try #require(t.securityGroup(named: "admin"))
        #expect(admin.ingress.isEmpty)
        #expect(admin.egress == nil)
    }

    @Test func specExampleInstancesAndServices() throws {
        let t = try #require(load(specExample))
        let web1 = try #require(t.instance(named: "web-1"))
        #expect(web1.ip == IPv4Address(10, 0, 1, 10))
        #expect(web1.mac == MACAddress("02:00:0a:00:01:0a"))
        #expect(web1.publicIP == IPv4Address(203, 0, 113, 10))
        #expect(web1.securityGroups == ["web"])
        let web2 = try #require(t.instance(named: "web-2"))
        #expect(web2.mac == MACAddress("02:00:0a:00:01:0b"))
        #expect(web2.publicIP == nil)

        let lb = try #require(t.loadBalancer(named: "web-lb"))
        #expect(lb.vip == IPv4Address(203, 0, 113, 80))
        #expect(lb.listeners == [Listener(
            protocol: .tcp, port: 80, targetPort: 8080, algorithm: .roundRobin, hashPort: false,
            targets: [LBTarget(instance: "web-1"), LBTarget(instance: "web-2", weight: 2)])])

        let office = try #require(t.vpnTunnel(named: "office"))
        #expect(office.network == "vpc")
        #expect(office.listen == Endpoint(ip: IPv4Address(203, 0, 113, 3), port: 51820))
        #expect(office.privateKey == [UInt8](repeating: 1, count: 32))
        #expect(office.peers.count == 1)
        let peer = try #require(office.peers.first)
        #expect(peer.publicKey == [UInt8](repeating: 2, count: 32))
        #expect(peer.presharedKey == [UInt8](repeating: 3, count: 32))
        #expect(peer.endpoint == Endpoint(ip: IPv4Address(192, 0, 2, 10), port: 51820))
        #expect(peer.allowedIPs == [try #require(IPCIDR("172.16.0.0/16"))])
        #expect(peer.persistentKeepalive == 25)

        #expect(t.events == [Event(
            at: 12_500_000_000, action: .setTarget(loadBalancer: "web-lb", instance: "web-2", state: .down))])
    }

    @Test func summaryHasTheKeyLines() throws {
        let t = try #require(load(specExample))
        let summary = t.summary()
        let lines = summary.split(separator: "\n").map(String.init)
        #expect(lines.count < 40)
        #expect(lines.first == "topology webapp (t.yaml)")
        #expect(lines.contains("  vpc 10.0.0.0/16 nat-private"))
        #expect(lines.contains("    subnet app 10.0.1.0/24 gateway 10.0.1.1"))
        #expect(lines.contains("    nat 203.0.113.1, 203.0.113.2 ports 1024-65535 address-and-port-dependent"))
        #expect(lines.contains("instances (2):"))
        #expect(lines.contains("  web-1 vpc/app 10.0.1.10 public 203.0.113.10 groups web"))
        #expect(lines.contains("  web-2 vpc/app 10.0.1.11 groups web"))
        #expect(lines.contains("  web: 3 ingress, 1 egress"))
        #expect(lines.contains("  admin: 0 ingress, all egress"))
        #expect(lines.contains("  web-lb 203.0.113.80:80/tcp -> web-1, web-2*2 port 8080 round-robin"))
        #expect(lines.contains("  office on vpc listen 203.0.113.3:51820, 1 peer: 172.16.0.0/16"))
        #expect(lines.contains("  at 12.5s: web-lb target web-2 down"))
    }
}
