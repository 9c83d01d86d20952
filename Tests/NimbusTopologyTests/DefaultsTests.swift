import NimbusTopology
import NimbusWire
import Testing

@Suite struct DefaultsTests {
    @Test func topLevelDefaults() throws {
        let t = try #require(load(base))
        #expect(t.routerMAC == MACAddress("02:00:00:00:00:01"))
        #expect(t.internet.upstreamMAC == MACAddress("02:00:00:00:ff:fe"))
        #expect(t.internet.hosts.isEmpty)
        #expect(t.conntrack == ConntrackSettings(tcpPickup: .strict, maxFlows: 1_000_000))
        #expect(t.networks.first?.mode == .natPrivate)
        #expect(t.networks.first?.nat == nil)
        #expect(t.securityGroups.isEmpty && t.instances.isEmpty && t.events.isEmpty)
    }

    @Test func natDefaults() throws {
        let t = try #require(load(base + "    nat: { public-ips: [203.0.113.1] }\n"))
        let nat = try #require(t.networks.first?.nat)
        #expect(nat.ports == 1024...65535)
        #expect(nat.timeouts.tcpEstablished == 7440 * nanosecondsPerSecond)
        #expect(nat.timeouts.tcpTransitory == 240 * nanosecondsPerSecond)
        #expect(nat.timeouts.udp == 300 * nanosecondsPerSecond)
        #expect(nat.timeouts.icmp == 60 * nanosecondsPerSecond)
        #expect(nat.filtering == .addressAndPortDependent)
    }

    @Test func instanceAndListenerDefaults() throws {
        let t = try #require(load(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10 }
            load-balancers:
              - name: lb
                vip: 10.0.1.100
                listeners:
                  - { protocol: udp, port: 53, targets: [a] }
            """))
        let a = try #require(t.instance(named: "a"))
        #expect(a.mac == MACAddress("02:00:0a:00:01:0a"))
        #expect(a.securityGroups == nil)
        #expect(a.publicIP == nil)
        let listener = try #require(t.loadBalancers.first?.listeners.first)
        #expect(listener.targetPort == 53)
        #expect(listener.algorithm == .roundRobin)
        #expect(listener.hashPort == false)
        #expect(listener.targets == [LBTarget(instance: "a", weight: 1)])
    }

    @Test func explicitSettings() throws {
        let t = try #require(load("""
            version: 1
            name: pub
            router-mac: 02:aa:00:00:00:01
            conntrack: { tcp-pickup: loose, max-flows: 5000 }
            internet: { upstream-mac: "02:bb:00:00:00:02" }
            networks:
              - name: dmz
                cidr: 198.51.100.0/24
                mode: public-ip
                subnets: [{ name: s, cidr: 198.51.100.0/25 }]
            security-groups:
              - name: closed
                ingress: []
                egress: []
              - name: dns
                ingress: [{ protocol: udp, ports: [53, "5353-5354"], source: "2001:db8::/32" }]
            instances:
              - { name: h, network: dmz, subnet: s, ip: 198.51.100.5, mac: 02:00:00:00:00:99, security-groups: [] }
            load-balancers:
              - name: lb
                vip: 203.0.113.9
                listeners:
                  - { protocol: tcp, port: 443, algorithm: source-hash, hash-port: true, targets: [h] }
            """))
        #expect(t.routerMAC == MACAddress("02:aa:00:00:00:01"))
        #expect(t.conntrack == ConntrackSettings(tcpPickup: .loose, maxFlows: 5000))
        #expect(t.internet.upstreamMAC == MACAddress("02:bb:00:00:00:02"))
        #expect(t.networks.first?.mode == .publicIP)
        #expect(t.securityGroup(named: "closed")?.egress == [])
        #expect(t.securityGroup(named: "dns")?.ingress.first?.ports == [53...53, 5353...5354])
        #expect(t.securityGroup(named: "dns")?.ingress.first?.peer == .cidr(try #require(IPCIDR("2001:db8::/32"))))
        #expect(t.instance(named: "h")?.mac == MACAddress("02:00:00:00:00:99"))
        #expect(t.instance(named: "h")?.securityGroups == [])
        let listener = try #require(t.loadBalancers.first?.listeners.first)
        #expect(listener.algorithm == .sourceHash && listener.hashPort)
    }

    @Test func portsSyntax() throws {
        let t = try #require(load(base + """
            security-groups:
              - name: g
                ingress:
                  - { protocol: tcp, ports: 22, source: 0.0.0.0/0 }
                  - { protocol: tcp, ports: "80,443", source: 0.0.0.0/0 }
                  - { protocol: udp, ports: "1024-65535", source: 0.0.0.0/0 }
                  - { protocol: tcp, ports: "80, 8000-8080", source: 0.0.0.0/0 }
                  - { protocol: 47, source: 10.0.0.0/8 }
                  - { protocol: icmpv6, icmp-type: 128, icmp-code: 0, source: "::/0" }
            """))
        let rules = try #require(t.securityGroups.first?.ingress)
        #expect(rules.map(\.ports) == [[22...22], [80...80, 443...443], [1024...65535], [80...80, 8000...8080], [], []])
        #expect(rules[4].protocol == .number(47))
        #expect(rules[5].protocol == .icmpv6 && rules[5].icmpType == 128 && rules[5].icmpCode == 0)
    }

    @Test func eventsAreSortedByTime() throws {
        let t = try #require(load(base + """
            instances:
              - { name: a, network: vpc, subnet: app, ip: 10.0.1.10 }
              - { name: b, network: vpc, subnet: app, ip: 10.0.1.11 }
            load-balancers:
              - { name: lb, vip: 10.0.1.100, listeners: [{ protocol: tcp, port: 80, targets: [a, b] }] }
            events:
              - { at: 5m, set-target: { load-balancer: lb, instance: a, state: draining } }
              - { at: 250ms, set-target: { load-balancer: lb, instance: b, state: down } }
              - { at: 2, set-target: { load-balancer: lb, instance: b, state: up } }
            """))
        #expect(t.events.map(\.at) == [250_000_000, 2_000_000_000, 300_000_000_000])
    }
}
