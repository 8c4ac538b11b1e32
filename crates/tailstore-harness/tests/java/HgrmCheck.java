// Prints HdrHistogram's own percentile distribution of the values given on
// standard input ("value count" per line), for the hdr-tools tests:
//   java -cp hdrhistogram.jar:DIR HgrmCheck LOWEST HIGHEST DIGITS TICKS RATIO
import java.io.BufferedReader;
import java.io.InputStreamReader;
import org.HdrHistogram.Histogram;

public class HgrmCheck {
    public static void main(String[] args) throws Exception {
        long lowest = Long.parseLong(args[0]);
        long highest = Long.parseLong(args[1]);
        int digits = Integer.parseInt(args[2]);
        int ticks = Integer.parseInt(args[3]);
        double ratio = Double.parseDouble(args[4]);
        Histogram h = new Histogram(lowest, highest, digits);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split(" ");
            h.recordValueWithCount(Long.parseLong(f[0]), Long.parseLong(f[1]));
        }
        h.outputPercentileDistribution(System.out, ticks, ratio);
    }
}
