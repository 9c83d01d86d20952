import Foundation
import NimbusDraw
import NimbusTopology
import NimbusWire
import Testing

/// The DOT text `nimbus draw` renders: quoting, content, determinism.
@Suite struct DrawingTests {
    @Test func quotedStringsEscapeQuotesAndBackslashes() {
        #expect(DOT.quoted("web-1") == #""web-1""#)
        #expect(DOT.quoted(#"say "hi""#) == #""say \"hi\"""#)
        // A trailing backslash must not escape the closing quote; `\N` must not become the node name.
        #expect(DOT.quoted(#"a\"#) == #""a\\""#)
        #expect(DOT.quoted(#"\N"#) == #""\\N""#)
        #expect(DOT.quoted("two\nlines") == #""two\nlines""#)
        #expect(DOT.quoted("bell\u{7}") == "\"bell\u{FFFD}\"")
    }

    @Test func htmlTextEscapesMarkup() {
        #expect(DOT.html(#"<b>"x" & 'y'</b>"#) == "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;")
        #expect(DOT.html("plain 10.0.0.0/16 → ok") == "plain 10.0.0.0/16 → ok")
    }

    /// Names the loader would refuse, built directly: whatever a name holds, the graph stays valid.
    static let hostile: Topology = {
        let cidr = IPv4CIDR("10.0.0.0/16")!
        let network = Network(name: #"v"p\c"#, cidr: cidr, mode: .natPrivate,
                              subnets: [Subnet(name: "s<1>&", cidr: IPv4CIDR("10.0.1.0/24")!),
                                        Subnet(name: "empty", cidr: IPv4CIDR("10.0.2.0/24")!)],
                              nat: NATGateway(publicIPs: [IPv4Address("203.0.113.1")!]))
        let instance = Instance(name: #"say "hi"\"#, network: network.name, subnet: "s<1>&",
                                ip: IPv4Address("10.0.1.10")!, publicIP: IPv4Address("203.0.113.10")!,
                                securityGroups: [#"g"1"#])
        let lb = LoadBalancer(name: "lb\"", vip: IPv4Address("203.0.113.80")!, listeners: [
            Listener(protocol: .tcp, port: 80, targetPort: 8080, targets: [LBTarget(instance: instance.name, weight: 3)]),
        ])
        return Topology(file: "hostile.yaml", name: #"site "x""#, networks: [network], instances: [instance],
                        loadBalancers: [lb])
    }()

    @Test func namesWithQuotesAreEscaped() {
        let text = Self.hostile.dot()
        #expect(text.hasPrefix(#"digraph "site \"x\"" {"#))
        #expect(text.contains(#""instance/say \"hi\"\\" [label=<<b>say &quot;hi&quot;\</b>"#))
        #expect(text.contains(#"subgraph "cluster_network/v\"p\\c" {"#))
        #expect(text.contains("s&lt;1&gt;&amp;"))
        #expect(text.contains(#""lb/lb\"" -> "instance/say \"hi\"\\" [minlen="2", label="weight 3"];"#))
    }

    @Test(.enabled(if: tool("dot") != nil, "graphviz is not installed"))
    func namesWithQuotesSurviveGraphviz() throws {
        let r = try run(tool("dot")!, ["-Tsvg"], input: Self.hostile.dot())
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        // SVG text is XML: the quotes come back as entities, the backslash as itself.
        #expect(r.stdout.contains(#"say &quot;hi&quot;\"#))
        #expect(r.stdout.contains("s&lt;1&gt;&amp;"))
        #expect(r.stdout.contains("no instances"))   // the empty subnet still shows
    }

    @Test func sameTopologySameText() throws {
        for path in exampleTopologies {
            let a = try TopologyLoader.load(path: path).dot()
            let b = try TopologyLoader.load(path: path).dot()
            #expect(a == b, "\(path)")
        }
    }

    @Test func everyElementOfTheExamplesIsDrawn() throws {
        #expect(exampleTopologies.count >= 6)
        for path in exampleTopologies {
            let t = try TopologyLoader.load(path: path)
            let text = t.dot()
            for network in t.networks {
                #expect(text.contains(#"subgraph "cluster_network/\#(network.name)""#), "\(path): \(network.name)")
                for subnet in network.subnets {
                    #expect(text.contains(#"subgraph "cluster_subnet/\#(network.name)/\#(subnet.name)""#), "\(path)")
                }
            }
            for instance in t.instances {
                #expect(text.contains(#""instance/\#(instance.name)" [label=<<b>\#(instance.name)</b><br/><font point-size="9">\#(instance.ip)</font>"#),
                        "\(path): \(instance.name)")
            }
            for host in t.internet.hosts { #expect(text.contains(#""host/\#(host.name)""#), "\(path)") }
            for lb in t.loadBalancers {
                for target in Set(lb.listeners.flatMap(\.targets).map(\.instance)) {
                    #expect(text.contains(#""lb/\#(lb.name)" -> "instance/\#(target)""#), "\(path)")
                }
            }
            for tunnel in t.vpnTunnels {
                #expect(text.contains("listen \(tunnel.listen)"), "\(path)")
                for i in tunnel.peers.indices {
                    #expect(text.contains(#""vpn/\#(tunnel.name)/peer/\#(i)" -> "vpn/\#(tunnel.name)""#), "\(path)")
                }
            }
        }
    }

    /// The edges a drawing shows, as written (`"A" -> "B" [attributes]`), without the invisible
    /// ones that only guide the layout.
    static func visibleEdges(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { $0.contains(" -> ") && !$0.contains(#"style="invis""#) }
    }

    /// The statements of one subgraph, from its opening line to the brace that closes it (the
    /// writer indents by nesting, so that is the first `}` at the opening line's indentation).
    static func block(_ id: String, in text: String) -> [String] {
        let lines = text.split(separator: "\n").map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasSuffix("subgraph \(DOT.quoted(id)) {") }) else { return [] }
        let indent = lines[start].prefix { $0 == " " }
        guard let end = lines[(start + 1)...].firstIndex(of: indent + "}") else { return [] }
        return Array(lines[start...end])
    }

    static func drawing(_ example: String) throws -> String {
        try TopologyLoader.load(path: repositoryRoot.appendingPathComponent("Topologies/\(example).yaml").path).dot()
    }

    @Test func loadBalancerExample() throws {
        let text = try Self.drawing("load-balancer")
        let edges = Self.visibleEdges(text)
        // The public VIP faces the internet; the internal one sits in the subnet that answers for it.
        #expect(edges.contains { $0.hasPrefix(#""internet" -> "lb/web-lb""#) })
        #expect(!edges.contains { $0.hasPrefix(#""internet" -> "lb/internal-lb""#) })
        #expect(Self.block("cluster_subnet/vpc/web", in: text).contains { $0.hasPrefix(#"      "lb/internal-lb" ["#) })
        #expect(!Self.block("cluster_network/vpc", in: text).contains { $0.contains(#""lb/web-lb" ["#) })
        #expect(text.contains("tcp 80 → 8080, round-robin"))
        #expect(text.contains("udp 53 → 5353, source-hash"))
        // web-3 weighs 2 in one listener of two: the edge says which.
        #expect(text.contains(#""lb/web-lb" -> "instance/web-3" [minlen="2", label="tcp 80: weight 2"];"#))
        #expect(text.contains(#""lb/web-lb" -> "instance/web-1" [minlen="2"];"#))
        #expect(text.contains(#""internet" -> "nat/vpc" [dir="back"];"#))
        #expect(text.contains("203.0.113.1"))
    }

    @Test func publicAndElasticAddressesFaceTheInternet() throws {
        let publicIP = try Self.drawing("public-ip")
        #expect(publicIP.contains(#""internet" -> "instance/web-1" [lhead="cluster_network/public", dir="both"];"#))
        let nat = try Self.drawing("nat-private")
        #expect(nat.contains(#""internet" -> "instance/web-1" [dir="both"];"#))
        #expect(nat.contains("elastic IP 203.0.113.10"))
        // Private instances are reached only through the NAT gateway.
        let fromInternet = Self.visibleEdges(nat).filter { $0.hasPrefix(#""internet" -> "#) }
        #expect(fromInternet == [#""internet" -> "nat/vpc" [dir="back"];"#, #""internet" -> "instance/web-1" [dir="both"];"#])
        let acl = try Self.drawing("security-groups")
        #expect(acl.contains("203.0.113.0/26, network-acl edge"))
        #expect(acl.contains("groups web, admin"))
    }

    @Test func tunnelsAndPeers() throws {
        let text = try Self.drawing("vpn-site-to-site")
        #expect(text.contains("listen 203.0.113.3:51820"))
        #expect(text.contains("peer 198.51.100.2:51820</b>"))
        #expect(text.contains("allowed-ips 10.20.0.0/16"))
        #expect(text.contains("keepalive 25s"))
        #expect(Self.block("cluster_network/vpc", in: text).contains { $0.hasPrefix(#"    "vpn/office" ["#) })
        #expect(Self.block("row/internet", in: text).contains { $0.hasPrefix(#"    "vpn/office/peer/0" ["#) })
    }
}
