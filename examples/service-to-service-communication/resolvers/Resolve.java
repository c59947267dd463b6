// Resolve.java — the Java client of the resolver matrix. Java has two resolvers: InetAddress (the
// platform's getaddrinfo, behind Java's own address cache; what java.net and every HTTP client use)
// and JNDI's DNS provider (com.sun.jndi.dns, pure Java: it reads /etc/resolv.conf and sends its own
// queries; the usual way Java programs look up SRV). It checks a Cloud Map name with both:
//
//   InetAddress.getAllByName(NAME)   the IPv4 addresses are exactly EXPECT_A        (else exit 10)
//   GET http://NAME:PORT/health      answers 200                                    (else exit 11)
//   JNDI dns: A of NAME              exactly EXPECT_A                               (else exit 12)
//   JNDI dns: SRV of SRV_NAME        the targets are exactly EXPECT_SRV ("target:port") (exit 20)
//   each SRV target                  InetAddress within EXPECT_A, GET answers 200   (else exit 21)
//
// The contract (environment, exit codes) is the one of every client in this directory (README.md).
import java.net.HttpURLConnection;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.Proxy;
import java.net.URL;
import java.util.ArrayList;
import java.util.Hashtable;
import java.util.List;
import java.util.Locale;
import java.util.TreeSet;
import javax.naming.Context;
import javax.naming.NamingEnumeration;
import javax.naming.directory.Attribute;
import javax.naming.directory.DirContext;
import javax.naming.directory.InitialDirContext;

public final class Resolve {
    static final class Check extends Exception {
        final int code;

        Check(int code, String message) {
            super(message);
            this.code = code;
        }
    }

    static TreeSet<String> words(String text) {
        TreeSet<String> set = new TreeSet<>();
        for (String word : text.trim().split("\\s+")) {
            if (!word.isEmpty()) set.add(word.toLowerCase(Locale.ROOT));
        }
        return set;
    }

    static TreeSet<String> inetAddressIpv4(String name, int code) throws Check {
        TreeSet<String> found = new TreeSet<>();
        try {
            for (InetAddress address : InetAddress.getAllByName(name)) {
                if (address instanceof Inet4Address) found.add(address.getHostAddress());
            }
        } catch (Exception error) {
            throw new Check(code, "InetAddress.getAllByName " + name + ": " + error);
        }
        return found;
    }

    static void httpHealth(String host, String port, int code) throws Check {
        String url = "http://" + host + ":" + port + "/health";
        try {
            HttpURLConnection connection = (HttpURLConnection) new URL(url).openConnection(Proxy.NO_PROXY);
            connection.setConnectTimeout(5000);
            connection.setReadTimeout(5000);
            int status = connection.getResponseCode();
            connection.disconnect();
            if (status != 200) throw new Check(code, "GET " + url + ": " + status);
        } catch (Check check) {
            throw check;
        } catch (Exception error) {
            throw new Check(code, "GET " + url + ": " + error);
        }
        System.out.println("ok http GET " + url + ": 200");
    }

    static List<String> jndi(String name, String type, int code) throws Check {
        Hashtable<String, String> environment = new Hashtable<>();
        environment.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.dns.DnsContextFactory");
        // No server in the URL: the provider takes the nameservers of /etc/resolv.conf.
        environment.put(Context.PROVIDER_URL, "dns:");
        List<String> values = new ArrayList<>();
        try {
            DirContext context = new InitialDirContext(environment);
            Attribute attribute = context.getAttributes(name, new String[] {type}).get(type);
            if (attribute != null) {
                NamingEnumeration<?> all = attribute.getAll();
                while (all.hasMore()) values.add(all.next().toString());
            }
            context.close();
        } catch (Exception error) {
            throw new Check(code, "JNDI dns " + type + " " + name + ": " + error);
        }
        return values;
    }

    static void run() throws Check {
        String name = System.getenv("NAME"), expectA = System.getenv("EXPECT_A"), port = System.getenv("PORT");
        String srvName = System.getenv("SRV_NAME"), expectSrv = System.getenv("EXPECT_SRV");
        if (name == null || expectA == null || port == null || (srvName != null && expectSrv == null)) {
            throw new Check(2, "usage: NAME, EXPECT_A, PORT (and EXPECT_SRV with SRV_NAME) must be set");
        }
        TreeSet<String> expected = words(expectA);

        TreeSet<String> found = inetAddressIpv4(name, 10);
        if (!found.equals(expected)) {
            throw new Check(10, "InetAddress.getAllByName " + name + " gave " + found + ", expected " + expected);
        }
        System.out.println("ok InetAddress.getAllByName " + name + ": " + found);
        httpHealth(name, port, 11);

        TreeSet<String> jndiA = new TreeSet<>(jndi(name, "A", 12));
        if (!jndiA.equals(expected)) throw new Check(12, "JNDI dns A " + name + " gave " + jndiA + ", expected " + expected);
        System.out.println("ok JNDI dns A " + name + ": " + jndiA);

        if (srvName == null) return;
        TreeSet<String> srv = new TreeSet<>();
        List<String[]> targets = new ArrayList<>();
        for (String value : jndi(srvName, "SRV", 20)) {
            // "priority weight port target."
            String[] fields = value.trim().split("\\s+");
            if (fields.length != 4) throw new Check(20, "JNDI dns SRV " + srvName + ": odd record " + value);
            String target = fields[3].replaceAll("\\.$", "").toLowerCase(Locale.ROOT);
            srv.add(target + ":" + fields[2]);
            targets.add(new String[] {target, fields[2]});
        }
        if (!srv.equals(words(expectSrv))) {
            throw new Check(20, "JNDI dns SRV " + srvName + " gave " + srv + ", expected " + words(expectSrv));
        }
        System.out.println("ok JNDI dns SRV " + srvName + ": " + srv);
        for (String[] target : targets) {
            TreeSet<String> addresses = inetAddressIpv4(target[0], 21);
            if (addresses.isEmpty() || !expected.containsAll(addresses)) {
                throw new Check(21, "InetAddress.getAllByName " + target[0] + " gave " + addresses + ", not within " + expected);
            }
            System.out.println("ok InetAddress.getAllByName " + target[0] + ": " + addresses);
            httpHealth(target[0], target[1], 21);
        }
    }

    public static void main(String[] arguments) {
        try {
            run();
        } catch (Check check) {
            System.out.println("FAIL " + check.getMessage());
            System.exit(check.code);
        }
        System.exit(0);
    }
}
