"""What a person or a CI system reads about runs: the live console table, JUnit XML, GitHub
annotations. Reports read finished (frozen) results and step events; they never change them."""
