// The JDK's Kerberos acceptor for tests/interop.rs: one line per exchange on stdin,
// "<form> <channel-binding application data hex, or -> <AP-REQ token hex>", one verdict per line on
// stdout: "accept", "continue", or "GSSException: <major>: <minor>". The acceptor credential is
// the keytab named in the JAAS entry com.sun.security.jgss.krb5.accept (with
// -Djavax.security.auth.useSubjectCredsOnly=false). Form "public" hands the acceptor
// `new org.ietf.jgss.ChannelBinding(appData)` (the public API: null addresses); form "tls" the
// JDK's internal TlsChannelBindingImpl (what its own HTTPS client uses; needs
// --add-exports java.security.jgss/sun.security.jgss.krb5.internal=ALL-UNNAMED).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.HexFormat;
import org.ietf.jgss.ChannelBinding;
import org.ietf.jgss.GSSContext;
import org.ietf.jgss.GSSCredential;
import org.ietf.jgss.GSSException;
import org.ietf.jgss.GSSManager;
import org.ietf.jgss.Oid;

public class JdkAcceptor {
    public static void main(String[] args) throws Exception {
        GSSManager manager = GSSManager.getInstance();
        Oid krb5 = new Oid("1.2.840.113554.1.2.2");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            String[] parts = line.trim().split(" ");
            String form = parts[0];
            parts = new String[] {parts[1], parts[2]};
            String verdict;
            try {
                GSSCredential cred = manager.createCredential(
                        null, GSSCredential.INDEFINITE_LIFETIME, krb5, GSSCredential.ACCEPT_ONLY);
                GSSContext ctx = manager.createContext(cred);
                if (!parts[0].equals("-")) {
                    byte[] appData = HexFormat.of().parseHex(parts[0]);
                    ChannelBinding cb = form.equals("tls")
                            ? (ChannelBinding) Class.forName(
                                            "sun.security.jgss.krb5.internal.TlsChannelBindingImpl")
                                    .getConstructor(byte[].class)
                                    .newInstance((Object) appData)
                            : new ChannelBinding(appData);
                    ctx.setChannelBinding(cb);
                }
                byte[] token = HexFormat.of().parseHex(parts[1]);
                ctx.acceptSecContext(token, 0, token.length);
                verdict = ctx.isEstablished() ? "accept" : "continue";
                ctx.dispose();
            } catch (GSSException e) {
                verdict = "GSSException: " + e.getMajorString() + ": " + e.getMinorString();
            } catch (ReflectiveOperationException e) {
                verdict = "no TlsChannelBindingImpl: " + e;
            }
            System.out.println(verdict);
            System.out.flush();
        }
    }
}
