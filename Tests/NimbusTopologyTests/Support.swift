import NimbusTopology
import Testing

/// The SPEC's example topology with real keys (32 bytes of 0x01, 0x02 and 0x03).
let specExample = """
version: 1
name: webapp
router-mac: 02:00:00:00:00:01          # optional: the MAC the dataplane answers with
conntrack: { tcp-pickup: strict }      # optional: strict (default) | loose
internet:
  upstream-mac: 02:00:00:00:ff:fe      # optional: destination MAC for frames sent out the internet port
  hosts:                               # optional: hosts beyond the uplink (used by `nimbus up`)
    - { name: example, ip: 198.51.100.20 }
networks:
  - name: vpc
    cidr: 10.0.0.0/16
    mode: nat-private                  # nat-private | public-ip
    subnets:
      - { name: app, cidr: 10.0.1.0/24 }     # the gateway is the subnet's first host (10.0.1.1)
    nat:                               # nat-private only: the NAT gateway
      public-ips: [203.0.113.1, 203.0.113.2]
      ports: 1024-65535
      timeouts: { tcp-established: 7440s, tcp-transitory: 240s, udp: 300s, icmp: 60s }
security-groups:
  - name: web
    ingress:
      - { protocol: tcp, ports: "80,443", source: 0.0.0.0/0 }
      - { protocol: tcp, ports: 22, source: "sg:admin" }
      - { protocol: icmp, icmp-type: 8, source: 10.0.0.0/16 }
    egress:                            # omitted: allow all; [] : deny all
      - { protocol: all, destination: 0.0.0.0/0 }
  - name: admin
    ingress: []
instances:
  - name: web-1                        # also the name of its port
    network: vpc
    subnet: app
    ip: 10.0.1.10
    mac: 02:00:0a:00:01:0a             # optional; derived from the IP when absent
    public-ip: 203.0.113.10            # nat-private only: an optional elastic (1:1) IP
    security-groups: [web]             # absent: the network's default group
  - { name: web-2, network: vpc, subnet: app, ip: 10.0.1.11, security-groups: [web] }
load-balancers:
  - name: web-lb
    vip: 203.0.113.80                  # public (on the internet side) or a private address (internal LB)
    listeners:
      - protocol: tcp
        port: 80
        target-port: 8080
        algorithm: round-robin         # round-robin | source-hash
        targets: [web-1, { instance: web-2, weight: 2 }]
vpn-tunnels:
  - name: office
    network: vpc
    listen: 203.0.113.3:51820          # our public UDP endpoint
    private-key: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
    peers:
      - public-key: AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=
        preshared-key: AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=
        endpoint: 192.0.2.10:51820     # optional for a peer that only connects in
        allowed-ips: [172.16.0.0/16]
        persistent-keepalive: 25
events:                                # optional, replay only: changes at a point in capture time
  - { at: 12.5s, set-target: { load-balancer: web-lb, instance: web-2, state: down } }
"""

/// A small valid topology of seven lines; tests append sections from line 8 on.
let base = """
version: 1
name: t
networks:
  - name: vpc
    cidr: 10.0.0.0/16
    subnets:
      - { name: app, cidr: 10.0.1.0/24 }

"""

/// The diagnostics of a file that must fail to load, as printed.
func errors(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
    do {
        let topology = try TopologyLoader.load(yaml: yaml, file: "t.yaml")
        Issue.record("expected errors, but \(topology.name) loaded", sourceLocation: sourceLocation)
        return []
    } catch {
        return error.diagnostics.map(\.description)
    }
}

/// Expects exactly one diagnostic, equal to `expected`.
func expectError(_ yaml: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
    let found = errors(yaml, sourceLocation: sourceLocation)
    #expect(found == [expected], sourceLocation: sourceLocation)
}

/// Expects exactly one diagnostic, starting with `prefix` and containing `phrase`.
func expectError(
    _ yaml: String, prefix: String, containing phrase: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let found = errors(yaml, sourceLocation: sourceLocation)
    #expect(found.count == 1, "\(found)", sourceLocation: sourceLocation)
    if let first = found.first {
        #expect(first.hasPrefix(prefix), "\(first)", sourceLocation: sourceLocation)
        #expect(first.contains(phrase), "\(first)", sourceLocation: sourceLocation)
    }
}

/// Loads a file that must be valid.
func load(_ yaml: String, sourceLocation: SourceLocation = #_sourceLocation) -> Topology? {
    do {
        return try TopologyLoader.load(yaml: yaml, file: "t.yaml")
    } catch {
        Issue.record("unexpected errors:\n\(error)", sourceLocation: sourceLocation)
        return nil
    }
}
