import { Link } from 'react-router';

export default function NotFound() {
  return (
    <div className="mx-auto max-w-lg py-16 text-center">
      <h1 className="text-2xl font-semibold">Page not found</h1>
      <p className="mt-2 muted">There is no page at this address.</p>
      <Link className="btn-primary mt-6" to="/">
        Go to the dashboard
      </Link>
    </div>
  );
}
