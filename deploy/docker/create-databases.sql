-- Each service owns its database; none reads another's tables.
CREATE DATABASE customer_chain_requests;
CREATE DATABASE customer_chain_tickets;
CREATE DATABASE customer_chain_scoring;
