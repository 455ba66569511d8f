export const metadata = { title: "Revos + Next.js", description: "An AI feature billed with @revos/sdk" };

export default function RootLayout({ children }: { children: React.ReactNode }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", maxWidth: 720, margin: "2rem auto", padding: "0 1rem" }}>{children}</body>
    </html>
  );
}
