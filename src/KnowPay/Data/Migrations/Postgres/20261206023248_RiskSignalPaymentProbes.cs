using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace KnowPay.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class RiskSignalPaymentProbes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "ix_payments_carded",
                table: "payments",
                column: "id",
                filter: "card_fingerprint IS NOT NULL")
                .Annotation("Npgsql:IndexInclude", new[] { "card_fingerprint" });

            migrationBuilder.CreateIndex(
                name: "ix_payments_failed",
                table: "payments",
                column: "id",
                filter: "status = 'Failed'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_payments_carded",
                table: "payments");

            migrationBuilder.DropIndex(
                name: "ix_payments_failed",
                table: "payments");
        }
    }
}
